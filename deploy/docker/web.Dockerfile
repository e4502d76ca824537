# The one web origin for compose: the console built with Node, served by Debian's nginx with the same template and
# script as the native stack (deploy/nginx/grid-web.conf.template, deploy/local/nginx.sh run), as www-data.
FROM node:20-bookworm-slim AS build
WORKDIR /web
COPY services/web/package.json services/web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY services/web/ ./
RUN npm run build

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends nginx curl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY deploy/local/common.sh deploy/local/nginx.sh ./deploy/local/
COPY deploy/nginx ./deploy/nginx
COPY --from=build /web/dist ./services/web/dist
RUN mkdir -p /app/.run/nginx /app/.run/logs && chown -R www-data:www-data /app/.run
USER www-data
ENV ENV=production NGINX_HOST=0.0.0.0 NGINX_PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD curl -fsS http://127.0.0.1:8080/config.json >/dev/null || exit 1
CMD ["/app/deploy/local/nginx.sh", "run"]
