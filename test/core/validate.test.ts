import t from 'tap';
import {
  expectBoolean, expectInteger, expectNumber, expectOneOf, expectProbability, expectRange, expectString,
} from '../../core/validate.js';
import { InvalidOptionError, ShardFormatError, reasonOf, DeclipError, NonFiniteLossError } from '../../core/errors.js';

t.test('messages follow the house format and name the field', async (t) => {
  t.throws(() => expectNumber('minAmplitude', 0, 0.001, 1), {
    message: 'Expected number between 0.001 and 1 for minAmplitude but received 0 of type number',
    field: 'minAmplitude',
    code: 'ERR_DECLIP_INVALID_OPTION',
  });
  t.throws(() => expectInteger('batch', 1.5, 1), { message: 'Expected integer of at least 1 for batch but received 1.5 of type number' });
  t.throws(() => expectInteger('workers', 9, 1, 8), { message: 'Expected integer between 1 and 8 for workers but received 9 of type number' });
  t.throws(() => expectOneOf('onError', 'ignore', ['throw', 'warn', 'skip'] as const), {
    message: 'Expected one of throw, warn, skip for onError but received "ignore" of type string',
  });
  t.throws(() => expectBoolean('flip', 'yes'), { message: 'Expected boolean for flip but received "yes" of type string' });
  t.throws(() => expectString('out', ''), InvalidOptionError);
  t.throws(() => expectRange('scale', [0.9, 0.2], 0, 1), { message: /Expected \[lo, hi\] with 0 <= lo <= hi <= 1 for scale but received array/ });
  t.throws(() => expectProbability('p', null), { message: 'Expected number between 0 and 1 for p but received null' });
  t.throws(() => expectNumber('x', Number.NaN), { message: 'Expected finite number for x but received NaN of type number' });
  t.throws(() => expectNumber('x', -1, 0), { message: 'Expected number of at least 0 for x but received -1 of type number' });
  t.throws(() => expectNumber('x', 2, -Infinity, 1), { message: 'Expected number of at most 1 for x but received 2 of type number' });
  t.throws(() => expectNumber('x', {}), { message: /received object of type object/ });
});

t.test('valid values pass through', async (t) => {
  t.equal(expectNumber('a', 0.5, 0, 1), 0.5);
  t.equal(expectInteger('b', 3, 1, 8), 3);
  t.equal(expectOneOf('c', 'warn', ['throw', 'warn'] as const), 'warn');
  t.same(expectRange('d', [0.2, 1], 0, 1), [0.2, 1]);
  t.equal(expectBoolean('e', false), false);
  t.equal(expectString('f', 'x'), 'x');
});

t.test('data errors carry where they happened and a stable reason', async (t) => {
  const e = new ShardFormatError('truncated', 'tar ended inside a member', { url: 's.tar', member: 'a.jpg' }, { cause: new Error('eof') });
  t.ok(e instanceof DeclipError);
  t.equal(e.code, 'ERR_DECLIP_SHARD_FORMAT');
  t.equal(e.message, 'tar ended inside a member (shard s.tar, member a.jpg)');
  t.equal(e.name, 'ShardFormatError');
  t.equal(reasonOf(e), 'truncated');
  t.equal(reasonOf(new Error('x')), 'error');
  t.equal(reasonOf(new NonFiniteLossError(3, 'loss is NaN')), 'ERR_DECLIP_NON_FINITE_LOSS');
  t.ok((e.cause as Error).message === 'eof');
});
