package iotd;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.LocalDate;
import java.util.concurrent.Executors;

/**
 * The image-of-the-day HTTP service: {@code GET /image} and {@code GET /health}.
 * HEAD is answered like GET without a body; other methods get 405.
 */
public final class ImageOfTheDayServer {

    private static final int DEFAULT_PORT = 80;

    private final ImageCatalog catalog;
    private final Clock clock;

    ImageOfTheDayServer(ImageCatalog catalog, Clock clock) {
        this.catalog = catalog;
        this.clock = clock;
    }

    public static void main(String[] args) throws IOException {
        int port = port(System.getenv("PORT"));
        HttpServer server = HttpServer.create(new InetSocketAddress(port), 0);
        server.createContext("/", new ImageOfTheDayServer(ImageCatalog.standard(), Clock.systemUTC())::handle);
        server.setExecutor(Executors.newFixedThreadPool(4));
        Runtime.getRuntime().addShutdownHook(new Thread(() -> server.stop(0)));
        server.start();
        System.out.println("iotd listening on port " + port);
    }

    private static int port(String value) {
        if (value == null || value.isBlank()) {
            return DEFAULT_PORT;
        }
        try {
            return Integer.parseInt(value.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("PORT must be a number, got: " + value, e);
        }
    }

    /** Routes on the exact path (a context "/image" would also match "/image/x"). */
    private void handle(HttpExchange exchange) throws IOException {
        try (exchange) {
            String method = exchange.getRequestMethod();
            String path = exchange.getRequestURI().getPath();
            boolean readOnly = method.equals("GET") || method.equals("HEAD");
            int status = switch (path) {
                case "/image" -> readOnly
                        ? send(exchange, 200, "application/json", catalog.imageFor(LocalDate.now(clock)).toJson())
                        : methodNotAllowed(exchange);
                case "/health" -> readOnly
                        ? send(exchange, 200, "text/plain", "ok")
                        : methodNotAllowed(exchange);
                default -> send(exchange, 404, "text/plain", "not found");
            };
            System.out.println(method + " " + path + " " + status);
        }
    }

    private static int methodNotAllowed(HttpExchange exchange) throws IOException {
        exchange.getResponseHeaders().set("Allow", "GET, HEAD");
        return send(exchange, 405, "text/plain", "method not allowed");
    }

    private static int send(HttpExchange exchange, int status, String contentType, String body)
            throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", contentType + "; charset=utf-8");
        if (exchange.getRequestMethod().equals("HEAD")) {
            exchange.getResponseHeaders().set("Content-Length", Integer.toString(bytes.length));
            exchange.sendResponseHeaders(status, -1); // -1: no body follows
            return status;
        }
        exchange.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
        return status;
    }
}
