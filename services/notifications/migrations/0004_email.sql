-- Email deliveries carry a subject; SMS and webhooks leave it empty.
ALTER TABLE delivery ADD COLUMN subject text;
