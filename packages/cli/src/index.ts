export { ROLES, startSluice, type Role, type RunningSluice, type StartOptions } from './runtime.js';
