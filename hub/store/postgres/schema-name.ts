/**
 * The PostgreSQL schema name rule, shared by the hub config check and the store so they agree.
 * PostgreSQL folds unquoted names to lower case and keeps at most 63 bytes of a name: the store
 * creates the schema quoted but sets it as the search_path unquoted, so "Plant1" would be created
 * as Plant1 and searched as plant1. Only names that read the same either way are accepted.
 */
export const POSTGRES_SCHEMA_NAME_PATTERN = '^[a-z_][a-z0-9_]{0,62}$';

export const POSTGRES_SCHEMA_NAME_RULE = 'lower-case letters, digits and "_", starting with a letter or "_", at most 63 characters';

export function isPostgresSchemaName(name: string): boolean {
  return new RegExp(POSTGRES_SCHEMA_NAME_PATTERN).test(name);
}
