-- The trace of the event that made a delivery (W3C `traceparent`, shared/tracing.py), so that its send joins the
-- case's trace (and the provider gets it as a header). NULL while tracing is off, and for deliveries made before.
ALTER TABLE delivery ADD COLUMN traceparent text;
