export { type Config, type ConfigOverrides, compileConfig, type LogLevel } from './config.js';
export {
  allowsHost,
  compileAllowedOrigins,
  compileHostAllowlist,
  type HostAllowlist,
  type HostPattern,
  parseHost,
} from './host-allowlist.js';
export { VARIABLES, type VariableName } from './variables.js';
