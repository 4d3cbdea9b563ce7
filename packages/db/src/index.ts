export type { Database, OpenDatabaseOptions, QueryResult } from './database.ts';
export { migrate, openDatabase } from './database.ts';
export {
  DatabaseUnavailableError,
  isDatabaseUnavailable,
  toDatabaseError,
  unavailableReason,
} from './errors.ts';
export { ERASURE_LOCK_KEY } from './locks.ts';
export type { TemporaryDatabase } from './test-database.ts';
export { createTemporaryDatabase, DEFAULT_ADMIN_URL } from './test-database.ts';
