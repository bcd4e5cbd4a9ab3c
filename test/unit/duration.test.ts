// Go-style durations as users write them in the operator config and the FliptClient spec.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DURATION_PATTERN, parseDuration } from '../../src/util/duration.ts';

test('parseDuration reads single and combined units', () => {
  const cases: Array<[string, number]> = [
    ['0s', 0],
    ['250ms', 250],
    ['1s', 1000],
    ['10s', 10_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['720h', 2_592_000_000],
    ['1h30m', 5_400_000],
    ['1m30s', 90_000],
    ['2h45m30s500ms', 9_930_500],
    ['1.5h', 5_400_000],
    ['0.5s', 500],
    ['1.25m', 75_000],
    ['90m', 5_400_000],
    ['05m', 300_000],
    ['1s1s', 2000],
  ];
  for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
});

test('parseDuration tells ms from m followed by s', () => {
  assert.equal(parseDuration('1ms'), 1);
  assert.equal(parseDuration('1m1s'), 61_000);
  assert.equal(parseDuration('1m1ms'), 60_001);
});

test('parseDuration rounds to whole milliseconds', () => {
  assert.equal(parseDuration('0.1s'), 100);
  assert.equal(parseDuration('0.3s'), 300); // 0.3 * 1000 is 300.00000000000006 in floating point
  assert.equal(parseDuration('1.1s'), 1100);
  assert.equal(parseDuration('0.4ms'), 0);
  assert.ok(Number.isInteger(parseDuration('0.7h')));
});

test('parseDuration rejects anything that is not a Go duration', () => {
  for (const text of [
    '',
    '0',
    '10',
    '10 minutes',
    'ten seconds',
    '1d',
    '1w',
    '1y',
    '-5s',
    '+5s',
    ' 5s',
    '5s ',
    '5 s',
    '5S',
    '5M',
    '1H',
    '.5s',
    '5.s',
    '1.5',
    's',
    'ms',
    '1h-5m',
    '1e3s',
    '0x10s',
    '5µs',
    '5us',
    '5ns',
    '5s\n',
    '\n5s',
    '5s;rm',
  ]) {
    assert.equal(parseDuration(text), undefined, JSON.stringify(text));
  }
});

test('parseDuration rejects a duration too large to count in milliseconds exactly', () => {
  assert.equal(parseDuration(`${'9'.repeat(400)}h`), undefined, 'Infinity is not a duration');
  assert.equal(parseDuration('9999999999999h'), undefined, 'beyond Number.MAX_SAFE_INTEGER ms');
  assert.equal(parseDuration('2000000h'), 7_200_000_000_000, 'large but exact is fine');
});

test('DURATION_PATTERN accepts exactly what parseDuration parses', () => {
  const pattern = new RegExp(DURATION_PATTERN, 'u');
  for (const text of ['10s', '1h30m', '1.5h', '250ms', '0s']) assert.ok(pattern.test(text), text);
  for (const text of ['', '10', '1d', '-5s', '10 minutes', ' 5s']) assert.ok(!pattern.test(text), text);
});
