
CREATE SCHEMA feature_flags;
CREATE TABLE feature_flags.schema_version (version int NOT NULL, database_id text NOT NULL);
INSERT INTO feature_flags.schema_version VALUES (0, gen_random_uuid()::text);
CREATE TABLE feature_flags.documents (
  name text PRIMARY KEY CHECK (name IN ('flags', 'rollouts')),
  body text,
  version bigint NOT NULL DEFAULT 0,
  updated_at timestamptz);
INSERT INTO feature_flags.documents (name) VALUES ('flags'), ('rollouts');
CREATE TABLE feature_flags.audit (
  id bigserial PRIMARY KEY,
  time timestamptz NOT NULL DEFAULT now(),
  "user" text, host text, flag text, field text, old jsonb, new jsonb,
  action text, reason text, readings jsonb,
  entry jsonb NOT NULL);
CREATE INDEX audit_flag ON feature_flags.audit (flag, id);
CREATE FUNCTION feature_flags.audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'feature_flags.audit is append-only (% refused)', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON feature_flags.audit
  FOR EACH ROW EXECUTE FUNCTION feature_flags.audit_is_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON feature_flags.audit
  FOR EACH STATEMENT EXECUTE FUNCTION feature_flags.audit_is_append_only();
-- A document changed by hand (psql) without a new version would never
-- reach the syncs, which take only newer versions: the change gets one.
CREATE FUNCTION feature_flags.documents_versioned() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.body IS DISTINCT FROM OLD.body AND NEW.version = OLD.version THEN
    NEW.version := OLD.version + 1;
    NEW.updated_at := now();
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER documents_versioned BEFORE UPDATE ON feature_flags.documents
  FOR EACH ROW EXECUTE FUNCTION feature_flags.documents_versioned();
