/* fastsum: Adler-32 and a word count over bytes-like objects, in C.
 *
 *   fastsum.adler32(data, value=1, /) -> int   what zlib.adler32 computes (RFC 1950)
 *   fastsum.word_count(data, /) -> int         len(data.split()): runs of non-whitespace bytes
 *
 * Both take any object with the buffer protocol (bytes, bytearray, memoryview ...) and
 * release the GIL on large inputs. There is no Python fallback: import fails without the
 * compiled module.
 *
 * FASTSUM_SEEDED_BUG (a -D flag, never set in a real build) makes word_count miss the last
 * word, so that the example's tests can show a C regression failing the build's test stage.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#define ADLER_MOD 65521u  /* the largest prime below 2^16 */
#define ADLER_NMAX 5552   /* the most bytes summed before b can overflow 32 bits */
#define GIL_FREE_FROM 65536

static uint32_t adler32_update(uint32_t adler, const unsigned char *p, Py_ssize_t n)
{
    uint32_t a = adler & 0xffffu, b = (adler >> 16) & 0xffffu;
    while (n > 0) {
        Py_ssize_t chunk = n < ADLER_NMAX ? n : ADLER_NMAX;
        n -= chunk;
        while (chunk-- > 0) {
            a += *p++;
            b += a;
        }
        a %= ADLER_MOD;
        b %= ADLER_MOD;
    }
    return (b << 16) | a;
}

/* The bytes Python's bytes.split() splits at: space, \t, \n, \v, \f, \r. */
static int is_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static Py_ssize_t count_words(const unsigned char *p, Py_ssize_t n)
{
    Py_ssize_t words = 0;
    int in_word = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (is_space(p[i])) {
            in_word = 0;
        } else if (!in_word) {
            in_word = 1;
            words++;
        }
    }
#ifdef FASTSUM_SEEDED_BUG
    if (in_word)
        words--;
#endif
    return words;
}

static PyObject *fastsum_adler32(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_buffer data;
    unsigned long value = 1;
    uint32_t result;
    if (!PyArg_ParseTuple(args, "y*|k:adler32", &data, &value))
        return NULL;
    if (data.len >= GIL_FREE_FROM) {
        Py_BEGIN_ALLOW_THREADS
        result = adler32_update((uint32_t)value, data.buf, data.len);
        Py_END_ALLOW_THREADS
    } else {
        result = adler32_update((uint32_t)value, data.buf, data.len);
    }
    PyBuffer_Release(&data);
    return PyLong_FromUnsignedLong(result);
}

static PyObject *fastsum_word_count(PyObject *Py_UNUSED(module), PyObject *arg)
{
    Py_buffer data;
    Py_ssize_t words;
    if (PyObject_GetBuffer(arg, &data, PyBUF_SIMPLE) < 0)
        return NULL;
    if (data.len >= GIL_FREE_FROM) {
        Py_BEGIN_ALLOW_THREADS
        words = count_words(data.buf, data.len);
        Py_END_ALLOW_THREADS
    } else {
        words = count_words(data.buf, data.len);
    }
    PyBuffer_Release(&data);
    return PyLong_FromSsize_t(words);
}

static PyMethodDef fastsum_methods[] = {
    {"adler32", fastsum_adler32, METH_VARARGS,
     "adler32(data, value=1, /)\n--\n\n"
     "The Adler-32 checksum of a bytes-like object, continuing from value (what zlib.adler32 computes)."},
    {"word_count", fastsum_word_count, METH_O,
     "word_count(data, /)\n--\n\n"
     "The number of whitespace-separated words in a bytes-like object (len(data.split()))."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef fastsum_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "fastsum",
    .m_doc = "Adler-32 and a word count over bytes-like objects, in C.",
    .m_size = 0,
    .m_methods = fastsum_methods,
};

PyMODINIT_FUNC PyInit_fastsum(void)
{
    return PyModuleDef_Init(&fastsum_module);
}
