-- Four roles and four databases, PostGIS in routing: what deploy/local/postgres.sh does natively.
CREATE ROLE intake LOGIN PASSWORD 'intake';
CREATE ROLE routing LOGIN PASSWORD 'routing';
CREATE ROLE supervision LOGIN PASSWORD 'supervision';
CREATE ROLE notifications LOGIN PASSWORD 'notifications';
CREATE DATABASE intake OWNER intake;
CREATE DATABASE routing OWNER routing;
CREATE DATABASE supervision OWNER supervision;
CREATE DATABASE notifications OWNER notifications;
\connect routing
CREATE EXTENSION IF NOT EXISTS postgis;
