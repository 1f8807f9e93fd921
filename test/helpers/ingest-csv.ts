/**
 * One CSV export of the list `news` ingested through the real pipeline (readExport, ingestExport), its export time
 * from metadata: what the staging and fast-path tests drive their stores with.
 */

import { memoryLogger } from '../../functions/adapters/logger';
import type { AudienceConfig } from '../../functions/core/config';
import { type IngestReport, ingestExport } from '../../functions/core/ingest';
import type { ContactStore, RowPool, StagingArea } from '../../functions/core/ports';
import { PLATFORMS } from '../../functions/platforms/registry';
import { readExport } from '../../functions/reading';
import { bufferSource } from '../unit/reading/helpers';

export interface CsvIngest {
  config: AudienceConfig;
  store: ContactStore;
  body: Buffer;
  staging: () => Promise<StagingArea>;
  exportedAt: string;
  /** The ingest's clock (ISO). */
  now: string;
  kind?: 'snapshot' | 'delta';
  rowPool?: RowPool;
}

export function ingestCsv(o: CsvIngest): Promise<IngestReport> {
  return ingestExport(
    {
      list: 'news',
      kind: o.kind ?? 'snapshot',
      source: `incoming/news/list.csv#${o.exportedAt}`,
      exportedAt: o.exportedAt,
      exportedAtFrom: 'metadata',
      entries: readExport(bufferSource('list.csv', o.body)),
    },
    o.config,
    {
      store: o.store,
      staging: o.staging,
      platforms: PLATFORMS,
      logger: memoryLogger(),
      now: () => new Date(o.now),
      rowPool: o.rowPool,
    },
  );
}
