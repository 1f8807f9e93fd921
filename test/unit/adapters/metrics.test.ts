/** EMF documents built by Powertools' Metrics: today's names and dimensions, one document per set, flushed once. */
import { describe, expect, it } from 'vitest';
import { METRIC_NAMESPACE, memoryMetrics, meteredDestination, syncMetrics } from '../../../functions/adapters/metrics';
import { type Destination, DestinationError } from '../../../functions/core/ports';
import type { SyncReport } from '../../../functions/core/sync';

const docs = (lines: string[]) => lines.map((l) => JSON.parse(l));

function audience(destination: string, segment: string, added: number, status = 'synced') {
  return { destination, segment, added, removed: 1, invalidEntries: 0, desired: added + 5, status };
}

describe('RunMetrics', () => {
  it('writes one EMF document per set of dimensions, in the namespace, without a service dimension', () => {
    const m = memoryMetrics();
    m.add({ List: 'newsletter' }, { Rows: 4, Rejected: 1 });
    m.add({ List: 'shop' }, { Rows: 2, Rejected: 0 });
    expect(m.lines).toEqual([]);
    m.flush();
    const [a, b] = docs(m.lines);
    expect(a._aws.CloudWatchMetrics).toEqual([
      {
        Namespace: METRIC_NAMESPACE,
        Dimensions: [['List']],
        Metrics: [
          { Name: 'Rows', Unit: 'Count' },
          { Name: 'Rejected', Unit: 'Count' },
        ],
      },
    ]);
    expect(a).toMatchObject({ List: 'newsletter', Rows: 4, Rejected: 1 });
    expect(b).toMatchObject({ List: 'shop', Rows: 2, Rejected: 0 });
    expect(a.service).toBeUndefined();
    // Flushed means empty: a second flush writes nothing.
    m.flush();
    expect(m.lines).toHaveLength(2);
  });

  it('a sync report: per audience (destination, segment), duration, and a completion only when the run is done', () => {
    const m = memoryMetrics();
    const report = {
      startedAt: '2026-11-20T03:00:00.000Z',
      finishedAt: '2026-11-20T03:00:02.500Z',
      done: false,
      audiences: [audience('meta-main', 'all', 3), audience('google-ads', 'all', 2, 'failed')],
    } as unknown as SyncReport;
    syncMetrics(m, report);
    m.flush();
    const slice = docs(m.lines);
    expect(slice.map((d) => d._aws.CloudWatchMetrics[0].Dimensions)).toEqual([
      [['Destination', 'Segment']],
      [['Destination', 'Segment']],
      [['Segments']],
    ]);
    expect(slice[0]).toMatchObject({ Destination: 'meta-main', Segment: 'all', Added: 3, Removed: 1, Failed: 0 });
    expect(slice[1]).toMatchObject({ Destination: 'google-ads', Failed: 1 });
    expect(slice[2]).toMatchObject({ Segments: 'all', SyncDuration: 2500 });
    expect(slice[2].SyncCompleted).toBeUndefined();
    expect(slice[2]._aws.CloudWatchMetrics[0].Metrics).toEqual([{ Name: 'SyncDuration', Unit: 'Milliseconds' }]);

    const done = memoryMetrics();
    syncMetrics(done, { ...report, done: true, audiences: [] }, { segment: 'vip' });
    done.flush();
    expect(docs(done.lines)).toEqual([expect.objectContaining({ Segments: 'vip', SyncCompleted: 1 })]);
  });
});

describe('meteredDestination', () => {
  const ref = { id: 'a1', name: 'All' };
  function flaky(): Destination {
    let calls = 0;
    return {
      platform: 'meta',
      maxBatchSize: 10,
      ensureAudience: async () => ({ ref, created: false }),
      add: async () => {
        calls++;
        if (calls === 1) throw new DestinationError('throttled', 'slow down', { code: 613 });
        if (calls === 2) throw new DestinationError('transient', 'HTTP 503', { status: 503 });
        return { received: 1, invalid: 0 };
      },
      remove: () => {
        throw new Error('not mapped');
      },
    };
  }

  it('counts every error a call throws by destination, platform, kind and code, and passes everything through', async () => {
    const m = memoryMetrics();
    const d = meteredDestination('meta-main', flaky(), m)!;
    await expect(d.add(ref, [])).rejects.toThrow('slow down');
    await expect(d.add(ref, [])).rejects.toBeInstanceOf(DestinationError);
    await expect(d.add(ref, [])).resolves.toEqual({ received: 1, invalid: 0 });
    expect(() => d.remove(ref, [])).toThrow('not mapped');
    await expect(d.ensureAudience({ name: 'All', description: '' })).resolves.toEqual({ ref, created: false });
    // Optional methods the destination lacks stay absent: core checks for them.
    expect(d.replace).toBeUndefined();
    expect(d.platform).toBe('meta');
    m.flush();
    expect(docs(m.lines).map((x) => [x.Destination, x.Platform, x.ErrorKind, x.Code, x.ApiErrors])).toEqual([
      ['meta-main', 'meta', 'throttled', '613', 1],
      ['meta-main', 'meta', 'transient', '503', 1],
      ['meta-main', 'meta', 'unexpected', 'none', 1],
    ]);
  });
});
