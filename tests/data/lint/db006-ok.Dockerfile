
# syntax=docker/dockerfile:1.7
# After a blank line the comment above is no parser directive: BuildKit's built-in frontend
# builds this file, and nothing is pulled for it.
FROM debian:12
CMD ["true"]
