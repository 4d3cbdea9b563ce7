export {
  issueUserToken,
  USER_TOKEN_RULES,
  type UserIdentity,
  UserTokenError,
  type UserTokenErrorReason,
  verifyUserToken,
} from './user-token.ts';
