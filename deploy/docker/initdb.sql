-- Four roles and four databases, PostGIS in routing: what deploy/local/postgres.sh does natively.
-- Passwords from the container's environment (docker-compose.yml passes them from .env; psql 15's \getenv).
\getenv intake_password INTAKE_DB_PASSWORD
\getenv routing_password ROUTING_DB_PASSWORD
\getenv supervision_password SUPERVISION_DB_PASSWORD
\getenv notifications_password NOTIFICATIONS_DB_PASSWORD
CREATE ROLE intake LOGIN PASSWORD :'intake_password';
CREATE ROLE routing LOGIN PASSWORD :'routing_password';
CREATE ROLE supervision LOGIN PASSWORD :'supervision_password';
CREATE ROLE notifications LOGIN PASSWORD :'notifications_password';
CREATE DATABASE intake OWNER intake;
CREATE DATABASE routing OWNER routing;
CREATE DATABASE supervision OWNER supervision;
CREATE DATABASE notifications OWNER notifications;
\connect routing
CREATE EXTENSION IF NOT EXISTS postgis;
