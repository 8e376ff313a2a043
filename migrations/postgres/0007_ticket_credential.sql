-- The token a terminal ticket was minted with (none for the admin token): a ticket stops working
-- when that token is revoked, and so do the sockets it opened (SPEC §16).
ALTER TABLE terminal_tickets ADD COLUMN credential_id UUID;
