# mcplocal in HTTP mode in a container: `make images` builds the static
# binary and this image FROM scratch. Point it at mcpd; clients present
# McpTokens, checked through mcpd's introspection.
#
#   docker run -p 3200:3200 -e MCPLOCAL_MCPD_URL=https://mcpd.example.com mcpctl/mcplocal
FROM scratch
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# An empty directory owned by the unprivileged user: its state lives here.
COPY --chown=65532:65532 empty/ /cache/
COPY --chown=65532:65532 empty/ /tmp/
COPY mcplocal /mcplocal
ENV MCPLOCAL_HTTP_HOST=0.0.0.0 \
    MCPLOCAL_HTTP_PORT=3200 \
    MCPLOCAL_CACHE_DIR=/cache \
    HOME=/cache
EXPOSE 3200
USER 65532:65532
ENTRYPOINT ["/mcplocal"]
CMD ["serve"]
