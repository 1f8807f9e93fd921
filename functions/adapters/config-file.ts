import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { type AudienceConfig, ConfigError, parseConfig } from '../core/config';
import { PLATFORMS } from '../platforms/registry';

/** Parses an audiences config (already read from YAML or JSON) against every registered platform. */
export function parseAudienceConfig(data: unknown, source = 'config'): AudienceConfig {
  return parseConfig(data, source, PLATFORMS);
}

/** Reads a YAML or JSON audiences config and validates it; throws ConfigError with every problem named. */
export function loadConfigFile(path: string): AudienceConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError([`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`], path);
  }
  let data: unknown;
  try {
    data = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new ConfigError([`not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'}: ${(e as Error).message}`], path);
  }
  return parseConfig(data, path, PLATFORMS);
}
