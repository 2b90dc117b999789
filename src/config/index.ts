export { type Config, type ConfigOverrides, compileConfig, type LogLevel } from './config.js';
export { VARIABLES, type VariableName } from './variables.js';
