export {
  ALERT_KINDS,
  type AlertKind,
  type AlertRule,
  applyCount,
  type CellCounts,
  conditionOf,
  currentCount,
  MAX_TOP_K,
  type Observation,
  rankCells,
  ruleError,
  step,
} from './rules.ts';
export { newWebhookSecret, signWebhook, verifyWebhook } from './signature.ts';
export {
  type AlertEvent,
  type AlertPayload,
  type Delivery,
  deleteSubscription,
  getSubscription,
  insertSubscription,
  listEvents,
  listSubscriptions,
  type NewSubscription,
  redeliverEvent,
  type Subscription,
} from './store.ts';
export {
  addressError,
  guardedLookup,
  hostOf,
  MAX_TARGET_URL_LENGTH,
  parseTargetUrl,
  TargetError,
  type TargetPolicy,
  validateTarget,
} from './target.ts';
