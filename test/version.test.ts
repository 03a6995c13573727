import t from 'tap';
import { compareAgentVersions, compareVersions, isVersionAbove } from '../src/protocol/version.ts';

/*
 * Two comparisons, each as its side does it:
 * - the agent's versionutil.Compare(a, b, strictSort=true) (agent/versionutil/versionutil.go,
 *   with github.com/coreos/go-semver), which it uses on our ClientVersion;
 * - the official client's (src/version/versionutil.go in aws/session-manager-plugin),
 *   which we use on the AgentVersion.
 */

t.test('compareAgentVersions: the cases of versionutil_test.go that hold with strictSort', async (t) => {
  const cases: Array<[string, string, number]> = [
    // semver on both sides
    ['0.0.0', '0.0.0-foo', 1],
    ['1.2.3', '1.2.3-4', 1],
    ['1.2.3-a.b.c.10.d.5', '1.2.3-a.b.c.5.d.100', 1],
    ['3.0.0+foo', '2.9.9', 1],
    ['1.0.0', '1.0.0-rc.1', 1],
    ['3.0.0-foo+bar', '3.0.0-bar+foo', 1],
    ['3.0.0+foo', '3.0.0', 0],
    ['3.0.0+foo', '3.0.0+bar', 0],
    // one side not semver: part by part
    ['3.0.0+foo', '3.0', 1],
    ['3.0.0+foo', '3.0.0.1', 1],
    ['3.2.0.0+foo', '3.1.9999.99999+foo', 1],
    ['2', '10', -1],
    ['a', 'z', -1],
    ['1.0.0', '1.0.0.1', -1],
    ['1.0.0', '1.0.0.0', -1],
    ['1.0.0', '1.0.a', -1],
    ['1.0.a', '1.0.A', 1],
    ['1.1', '1.-1', 1],
    ['1.10', '1.9', 1],
    ['1.0.0', '1.0', 1],
    ['a.01.b', 'a.1.b', 0],
    ['1.0.002', '1.0.2', 0],
  ];
  for (const [a, b, expected] of cases) t.equal(compareAgentVersions(a, b), expected, `${a} vs ${b}`);
});

t.test('compareAgentVersions: the decisions the agent takes on a ClientVersion', async (t) => {
  // port.go: mux iff Compare(clientVersion, "1.1.70") >= 0.
  t.ok(compareAgentVersions('1.2.700.0', '1.1.70') > 0);
  t.ok(compareAgentVersions('1.1.70.0', '1.1.70') > 0, 'more parts, equal so far: greater');
  t.equal(compareAgentVersions('1.1.70', '1.1.70'), 0);
  t.ok(compareAgentVersions('1.1.69.9', '1.1.70') < 0);
  t.ok(compareAgentVersions('', '1.1.70') < 0, 'empty: the text "" is below "1"');
  t.ok(compareAgentVersions('garbage', '1.1.70') > 0, 'not "low": "g" sorts after "1" as text');
  t.ok(compareAgentVersions('v2', '1.1.70') > 0);
  t.ok(compareAgentVersions('+2.0.0', '1.1.70') > 0, 'strconv.Atoi takes a sign');
  // datachannel.go: the notice iff Compare(clientVersion, "1.2.295") <= 0.
  t.ok(compareAgentVersions('1.2.295.0', '1.2.295') > 0, 'so 1.2.295.0 gets no notice');
  t.ok(compareAgentVersions('99999999999999999999', '1') > 0, 'beyond int64: compared as text');
});

t.test('compareVersions: the official client\'s rule (same number of parts, integers)', async (t) => {
  t.equal(compareVersions('3.0.196.0', '3.0.196.0'), 0);
  t.equal(compareVersions('3.0.197.0', '3.0.196.0'), 1);
  t.equal(compareVersions('3.0.196.0', '3.1.0.0'), -1);
  t.equal(compareVersions('3.0.196', '3.0.196.0'), undefined, 'length mismatch: not comparable');
  t.equal(compareVersions('3.x.1.0', '3.0.196.0'), undefined, 'not numbers: not comparable');
  t.equal(compareVersions('', '3.0.196.0'), undefined, 'empty: an error');
  t.equal(compareVersions('+3.0.196.1', '3.0.196.0'), 1, 'strconv.Atoi takes a sign');
  t.equal(compareVersions('3.00.196.1', '3.0.196.0'), 1, 'and leading zeros');
  t.ok(isVersionAbove('3.3.987.0', '3.0.196.0'));
  t.notOk(isVersionAbove('3.0.196.0', '3.0.196.0'), 'strictly greater');
  t.notOk(isVersionAbove('garbage', '3.0.196.0'), 'anything not comparable: not supported');
});
