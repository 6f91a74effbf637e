import { Writable } from 'node:stream';
import { createLogger } from '../../src/logger';

/** The lines a logger at verbosity `v` writes for one line at each level. */
function linesAt(v: number): string[] {
  const written: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      written.push(chunk.toString());
      done();
    },
  });
  const log = createLogger({ format: 'json', verbosity: v, stream }).child({ component: 't' });
  log.trace('each kernel entry');
  log.debug('each pass');
  log.info('lease acquired');
  log.warn('a peer skipped');
  log.error('a failure');
  return written.map((w) => (JSON.parse(w) as { level: string }).level);
}

describe('-v levels', () => {
  it('0 shows what upstream logs at info; 1-3 add debug; 4 and above add trace', () => {
    expect(linesAt(0)).toEqual(['info', 'warn', 'error']);
    expect(linesAt(1)).toEqual(['debug', 'info', 'warn', 'error']);
    expect(linesAt(3)).toEqual(['debug', 'info', 'warn', 'error']);
    expect(linesAt(4)).toEqual(['trace', 'debug', 'info', 'warn', 'error']);
    expect(linesAt(10)).toEqual(['trace', 'debug', 'info', 'warn', 'error']);
  });
});
