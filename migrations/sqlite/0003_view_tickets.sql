-- A terminal ticket may be for viewing one resumable session only (SPEC §12).
ALTER TABLE terminal_tickets ADD COLUMN view_session TEXT;
