export type { Database, OpenDatabaseOptions, QueryOptions, QueryResult } from './database.ts';
export { migrate, openDatabase } from './database.ts';
export {
  DatabaseUnavailableError,
  isDatabaseUnavailable,
  toDatabaseError,
  unavailableReason,
} from './errors.ts';
export { ERASURE_LOCK_KEY } from './locks.ts';
