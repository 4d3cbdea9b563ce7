export type { Stack, StackOptions } from './stack.ts';
export { startStack } from './stack.ts';
