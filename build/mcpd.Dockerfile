# mcpd in a container: `make images` builds the static binary and this
# image FROM scratch (no base image to pull). The image has mcpd and CA
# certificates only, so servers it runs as processes must exist in the
# container: mount them, or use the docker runtime (mount the engine's
# socket) and URL servers.
#
#   docker run -p 3100:3100 -v mcpd-data:/data mcpctl/mcpd
#   docker run ... -v /var/run/docker.sock:/var/run/docker.sock mcpctl/mcpd
FROM scratch
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# An empty directory owned by the unprivileged user: its state lives here.
COPY --chown=65532:65532 empty/ /data/
COPY --chown=65532:65532 empty/ /tmp/
COPY mcpd /mcpd
ENV MCPD_LISTEN=0.0.0.0:3100 \
    MCPD_DATA_DIR=/data \
    HOME=/data
VOLUME /data
EXPOSE 3100
USER 65532:65532
ENTRYPOINT ["/mcpd"]
