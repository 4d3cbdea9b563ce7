export type { Database, OpenDatabaseOptions, QueryOptions, QueryResult } from './database.ts';
export { migrate, openDatabase } from './database.ts';
export { ERASURE_LOCK_KEY } from './locks.ts';
