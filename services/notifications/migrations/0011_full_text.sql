-- An SMS is cut to its segment limit; when it was, the whole text is kept here for the email that replaces
-- it should the SMS die (an email has no such limit). NULL when the SMS body is the whole text.
ALTER TABLE delivery ADD COLUMN full_text text;
