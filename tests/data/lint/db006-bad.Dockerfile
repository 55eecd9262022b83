# syntax=docker/dockerfile:1.7
# BuildKit pulls the frontend image of the directive above before the first step.
FROM debian:12
CMD ["true"]
