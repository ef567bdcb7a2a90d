-- Least privilege. Only the schema's owner (the role that ran --init) writes
-- tables directly. Editors change documents only through
-- write_documents(), which writes the documents, their audit rows and the
-- notification in one call; readers only read the flag document and record
-- their own sync heartbeat. Every function that runs with the owner's
-- rights pins search_path and is executable only by the roles granted it
-- (grants.sql, run by every --init once the roles exist).

REVOKE ALL ON SCHEMA feature_flags FROM PUBLIC;

-- The database stamps every audit row: the writing connection's role and
-- the server's time. What the client declares (its OS user, host and time)
-- stays in "user", host and entry, as declared.
ALTER TABLE feature_flags.audit
  ADD COLUMN role name,
  ADD COLUMN version bigint,
  ADD COLUMN imported boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN feature_flags.audit.role IS
  'session_user of the connection that wrote the row, stamped by the database (NULL: written before schema version 2)';
COMMENT ON COLUMN feature_flags.audit.time IS
  'the server''s time of the write (before schema version 2: the time the client declared)';
COMMENT ON COLUMN feature_flags.audit."user" IS 'the operating-system user the client declared';
COMMENT ON COLUMN feature_flags.audit.host IS 'the host the client declared';
COMMENT ON COLUMN feature_flags.audit.version IS 'the flag document''s version after the change';
COMMENT ON COLUMN feature_flags.audit.imported IS
  'brought in by --import from a file''s audit log: its fields are as the file declared them; role and time are the importer''s';

CREATE FUNCTION feature_flags.audit_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.role := session_user;
  NEW.time := now();
  RETURN NEW;
END $$;
CREATE TRIGGER audit_stamp BEFORE INSERT ON feature_flags.audit
  FOR EACH ROW EXECUTE FUNCTION feature_flags.audit_stamp();

-- Who last wrote each document (a guard's hold changes the rollouts
-- document without an audit row).
ALTER TABLE feature_flags.documents ADD COLUMN updated_by name;
CREATE OR REPLACE FUNCTION feature_flags.documents_versioned() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.body IS DISTINCT FROM OLD.body THEN
    IF NEW.version = OLD.version THEN
      NEW.version := OLD.version + 1;
    END IF;
    NEW.updated_at := now();
    NEW.updated_by := session_user;
  END IF;
  RETURN NEW;
END $$;

-- The text of key k of an audit entry when it is a JSON string.
CREATE FUNCTION feature_flags.entry_text(entry jsonb, k text) RETURNS text
  LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN jsonb_typeof(entry -> k) = 'string' THEN entry ->> k END
$$;

-- One audit row from an entry as the file audit log writes it. Owner only:
-- editors reach it through write_documents.
CREATE FUNCTION feature_flags.append_audit(entry jsonb, doc_version bigint, from_import boolean)
  RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF jsonb_typeof(entry) IS DISTINCT FROM 'object' THEN
    RAISE EXCEPTION 'an audit entry must be a JSON object' USING ERRCODE = 'check_violation';
  END IF;
  INSERT INTO feature_flags.audit
    ("user", host, flag, field, old, new, action, reason, readings, entry, version, imported)
  VALUES (
    feature_flags.entry_text(entry, 'user'), feature_flags.entry_text(entry, 'host'),
    feature_flags.entry_text(entry, 'flag'), feature_flags.entry_text(entry, 'field'),
    entry -> 'old', entry -> 'new',
    feature_flags.entry_text(entry, 'action'), feature_flags.entry_text(entry, 'reason'),
    (SELECT jsonb_object_agg(key, value) FROM jsonb_each(entry)
      WHERE key IN ('trigger', 'value', 'threshold', 'samples')),
    entry, doc_version, from_import);
END $$;

-- The rollouts document without what a guard's hold rewrites (each plan's
-- streaks, evidence, last decision and the counts of its current phase,
-- which `--report` reads): a change that keeps this is
-- bookkeeping and needs no audit row; any other needs one.
CREATE FUNCTION feature_flags.rollouts_substance(body text) RETURNS jsonb
  LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  doc jsonb;
BEGIN
  IF body IS NULL THEN
    RETURN NULL;
  END IF;
  doc := body::jsonb;
  IF jsonb_typeof(doc) <> 'object' OR jsonb_typeof(doc -> 'rollouts') IS DISTINCT FROM 'object' THEN
    RETURN doc;
  END IF;
  RETURN jsonb_set(doc, '{rollouts}', COALESCE(
    (SELECT jsonb_object_agg(k, CASE WHEN jsonb_typeof(v) = 'object'
                                     THEN v - 'streaks' - 'evidence' - 'last_decision' - 'phase_counts' ELSE v END)
       FROM jsonb_each(doc -> 'rollouts') AS e(k, v)),
    '{}'::jsonb));
END $$;

-- Both document rows locked for the caller's transaction (SELECT ... FOR
-- UPDATE needs UPDATE rights, which editors do not have), as read now.
CREATE FUNCTION feature_flags.lock_documents(max_bytes bigint)
  RETURNS TABLE (name text, version bigint, bytes bigint, body text, schema_version int, database_id text)
  LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT d.name, d.version, octet_length(d.body)::bigint,
         CASE WHEN octet_length(d.body) <= max_bytes THEN d.body END, s.version, s.database_id
    FROM feature_flags.documents d CROSS JOIN feature_flags.schema_version s
   ORDER BY d.name
     FOR UPDATE OF d
$$;

-- An edit's write: each document that is not NULL and differs, its audit
-- rows (a JSON array of entries) and the notification, all in the caller's
-- transaction; refused unless the documents are still at the versions the
-- caller read, and refused for a change without its audit rows (except a
-- guard's hold, which only rewrites plan bookkeeping). Returns the flag
-- document's version.
CREATE FUNCTION feature_flags.write_documents(
    new_flags text, new_rollouts text, read_flags_version bigint,
    read_rollouts_version bigint, entries jsonb)
  RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  flags_row record;
  rollouts_row record;
  version_now bigint;
  flags_changes boolean;
  rollouts_changes boolean;
  entry jsonb;
BEGIN
  IF jsonb_typeof(entries) IS DISTINCT FROM 'array' THEN
    RAISE EXCEPTION 'the audit entries must be a JSON array' USING ERRCODE = 'check_violation';
  END IF;
  IF jsonb_array_length(entries) > 10000 OR pg_column_size(entries) > 16777216 THEN
    RAISE EXCEPTION 'over 10000 audit entries or 16 MiB of them in one edit'
      USING ERRCODE = 'program_limit_exceeded';
  END IF;
  IF octet_length(new_flags) > 4194304 OR octet_length(new_rollouts) > 4194304 THEN
    RAISE EXCEPTION 'a document over 4194304 bytes' USING ERRCODE = 'program_limit_exceeded';
  END IF;
  SELECT d.body, d.version INTO flags_row FROM feature_flags.documents d
   WHERE d.name = 'flags' FOR UPDATE;
  SELECT d.body, d.version INTO rollouts_row FROM feature_flags.documents d
   WHERE d.name = 'rollouts' FOR UPDATE;
  IF flags_row.version IS DISTINCT FROM read_flags_version
     OR rollouts_row.version IS DISTINCT FROM read_rollouts_version THEN
    RAISE EXCEPTION 'the documents changed since they were read (flag document version % now, % read)',
      flags_row.version, read_flags_version USING ERRCODE = 'serialization_failure';
  END IF;
  IF flags_row.body IS NULL THEN
    RAISE EXCEPTION 'the database holds no flag document yet: its owner runs --import'
      USING ERRCODE = 'check_violation';
  END IF;
  flags_changes := new_flags IS NOT NULL AND new_flags IS DISTINCT FROM flags_row.body;
  rollouts_changes := new_rollouts IS NOT NULL AND new_rollouts IS DISTINCT FROM rollouts_row.body;
  IF jsonb_array_length(entries) = 0 AND (flags_changes OR (rollouts_changes AND
       feature_flags.rollouts_substance(new_rollouts)
         IS DISTINCT FROM feature_flags.rollouts_substance(rollouts_row.body))) THEN
    RAISE EXCEPTION 'a change of the documents needs the audit rows of the change'
      USING ERRCODE = 'check_violation';
  END IF;
  version_now := flags_row.version;
  IF flags_changes THEN
    version_now := version_now + 1;
    UPDATE feature_flags.documents SET body = new_flags, version = version_now, updated_at = now()
     WHERE name = 'flags';
  END IF;
  IF rollouts_changes THEN
    UPDATE feature_flags.documents SET body = new_rollouts, version = version + 1, updated_at = now()
     WHERE name = 'rollouts';
  END IF;
  FOR entry IN SELECT value FROM jsonb_array_elements(entries) LOOP
    PERFORM feature_flags.append_audit(entry, version_now, false);
  END LOOP;
  IF flags_changes OR rollouts_changes THEN
    PERFORM pg_notify('feature_flags', version_now::text);
  END IF;
  RETURN version_now;
END $$;

-- Each sync's last report, for the operators' view of the fleet. Rows are
-- keyed by the reporting role: a bot server can only touch its own.
CREATE TABLE feature_flags.syncs (
  role name NOT NULL DEFAULT session_user,
  host text NOT NULL,
  file text NOT NULL,
  version bigint,
  database_id text,
  last_success timestamptz,
  last_error text,
  PRIMARY KEY (role, host, file));

-- A sync's report: success (last_error NULL) or its last error. Inputs are
-- cut to bounded lengths and a role keeps at most 100 rows, so a bot
-- server's credentials cannot fill the table.
CREATE FUNCTION feature_flags.sync_heartbeat(host text, file text, version bigint, last_error text)
  RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
  h text := left(sync_heartbeat.host, 255);
  f text := left(sync_heartbeat.file, 4096);
  e text := left(sync_heartbeat.last_error, 4096);
BEGIN
  IF h IS NULL OR f IS NULL THEN
    RAISE EXCEPTION 'a heartbeat names its host and file' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM feature_flags.syncs s
                  WHERE s.role = session_user AND s.host = h AND s.file = f)
     AND (SELECT count(*) FROM feature_flags.syncs s WHERE s.role = session_user) >= 100 THEN
    RAISE EXCEPTION 'role % already reports 100 syncs', session_user
      USING ERRCODE = 'program_limit_exceeded';
  END IF;
  INSERT INTO feature_flags.syncs AS s (role, host, file, version, database_id, last_success, last_error)
  VALUES (session_user, h, f, sync_heartbeat.version,
          (SELECT v.database_id FROM feature_flags.schema_version v),
          CASE WHEN e IS NULL THEN now() END, e)
  ON CONFLICT ON CONSTRAINT syncs_pkey DO UPDATE SET
    version = COALESCE(EXCLUDED.version, s.version),
    database_id = EXCLUDED.database_id,
    last_success = COALESCE(EXCLUDED.last_success, s.last_success),
    last_error = EXCLUDED.last_error;
END $$;

REVOKE EXECUTE ON FUNCTION feature_flags.append_audit(jsonb, bigint, boolean) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION feature_flags.lock_documents(bigint) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION feature_flags.write_documents(text, text, bigint, bigint, jsonb) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION feature_flags.sync_heartbeat(text, text, bigint, text) FROM PUBLIC;
