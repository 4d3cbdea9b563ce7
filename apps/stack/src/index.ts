export type { BackfillLane, Stack, StackOptions } from './stack.ts';
export { startStack } from './stack.ts';
