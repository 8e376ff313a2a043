-- One row that every change of a workspace's fields locks first, so that the check that a new
-- parent_id makes no cycle and the write itself happen as one step (no two concurrent PATCHes can
-- each see the old tree and together make a cycle).
CREATE TABLE tree_lock (id INTEGER PRIMARY KEY);
INSERT INTO tree_lock (id) VALUES (1);
