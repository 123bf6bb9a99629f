import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { safeEqual, tpnsSign } from '../../src/http/auth.ts';
import { basic, post, QUERY, statusOf, testServer } from '../support/helpers.ts';

// SPEC §2.1: the vendor's test vector, byte for byte.
const VECTOR = {
  accessId: '1500001048',
  timestamp: '1565314789',
  secretKey: '1452fcebae9f3115ba794fb0fff2fd73',
  body:
    '{"audience_type": "account","platform": "android","message": {"title": "test title","content": "test ' +
    'content","android": { "action": {"action_type": 3,"intent": ' +
    '"xgscheme://com.xg.push/notify_detail?param1=xg"}}},"message_type": "notify","account_list": ' +
    '["5822f0eee44c3625ef0000bb"] }',
  hex: 'cd20774682bf78bfdb43e17d1d5d56b3e5b789a1670fc1527ef54c65d2d7b76d',
  sign: 'Y2QyMDc3NDY4MmJmNzhiZmRiNDNlMTdkMWQ1ZDU2YjNlNWI3ODlhMTY3MGZjMTUyN2VmNTRjNjVkMmQ3Yjc2ZA==',
};

const signed = (
  accessId: string,
  secret: string,
  body: string,
  seconds = Math.floor(Date.now() / 1000),
  order: 'tpns' | 'swapped' = 'tpns',
) => {
  const timestamp = String(seconds);
  const prefix = order === 'tpns' ? timestamp + accessId : accessId + timestamp;
  return { accessid: accessId, timestamp, sign: tpnsSign(secret, prefix, Buffer.from(body)) };
};

const QUERY_BODY = JSON.stringify({ operator_type: 2, token_list: ['t1'] });
const AUTH_FAILED = 1008003;

describe('signature', () => {
  it('matches the vendor test vector', () => {
    const hex = createHmac('sha256', VECTOR.secretKey)
      .update(VECTOR.timestamp + VECTOR.accessId + VECTOR.body)
      .digest('hex');
    assert.equal(hex, VECTOR.hex);
    assert.equal(tpnsSign(VECTOR.secretKey, VECTOR.timestamp + VECTOR.accessId, Buffer.from(VECTOR.body)), VECTOR.sign);
  });

  it('compares strings of any length', () => {
    assert.equal(safeEqual('abc', 'abc'), true);
    assert.equal(safeEqual('abc', 'abd'), false);
    assert.equal(safeEqual('abc', 'abcd'), false);
    assert.equal(safeEqual('', ''), true);
  });
});

describe('authentication over HTTP', () => {
  it('accepts the vendor test vector when the server clock is at its TimeStamp', async (t) => {
    const server = await testServer(t);
    await server.service.create({ name: 'vendor', accessId: VECTOR.accessId, secretKey: VECTOR.secretKey });
    // The vector's body is not a binding request, so it passes auth and fails on operator_type.
    t.mock.timers.enable({ apis: ['Date'], now: Number(VECTOR.timestamp) * 1000 });
    const response = await post(server, QUERY, VECTOR.body, {
      accessid: VECTOR.accessId,
      timestamp: VECTOR.timestamp,
      sign: VECTOR.sign,
    });
    assert.deepEqual(response, { status: 400, body: statusOf(1008002, 'operator_type: required') });
  });

  it('accepts Basic, the TPNS signature, and the swapped signing order', async (t) => {
    const server = await testServer(t);
    const { accessId, secretKey } = server.tenant;
    for (const headers of [
      basic(server.tenant),
      signed(accessId, secretKey, QUERY_BODY),
      signed(accessId, secretKey, QUERY_BODY, undefined, 'swapped'),
    ]) {
      const response = await post(server, QUERY, QUERY_BODY, headers);
      assert.equal(response.status, 200);
      assert.equal(response.body.ret_code, 0);
    }
  });

  it('takes header names in any case', async (t) => {
    const server = await testServer(t);
    const { accessid, timestamp, sign } = signed(server.tenant.accessId, server.tenant.secretKey, QUERY_BODY);
    const response = await post(server, QUERY, QUERY_BODY, { AccessId: accessid, TIMESTAMP: timestamp, Sign: sign });
    assert.equal(response.status, 200);
  });

  it('refuses with 1008003 and the same words for an unknown AccessID and a wrong secret', async (t) => {
    const server = await testServer(t);
    const wrongSecret = await post(
      server,
      QUERY,
      QUERY_BODY,
      basic({ accessId: server.tenant.accessId, secretKey: 'f'.repeat(32) }),
    );
    const unknownApp = await post(
      server,
      QUERY,
      QUERY_BODY,
      basic({ accessId: '1599999999', secretKey: server.tenant.secretKey }),
    );
    const expected = statusOf(AUTH_FAILED, 'authentication failed: Basic credentials: AccessID or SecretKey is wrong');
    assert.deepEqual(wrongSecret, { status: 401, body: expected });
    assert.deepEqual(unknownApp, { status: 401, body: expected });
    const signWrong = await post(server, QUERY, QUERY_BODY, signed(server.tenant.accessId, 'f'.repeat(32), QUERY_BODY));
    const signUnknown = await post(
      server,
      QUERY,
      QUERY_BODY,
      signed('1599999999', server.tenant.secretKey, QUERY_BODY),
    );
    assert.deepEqual(signWrong, signUnknown);
    assert.equal(signWrong.status, 401);
    assert.match(String(signWrong.body.err_msg), /Sign header: does not match/);
  });

  it('refuses a signature over other bytes than the body sent', async (t) => {
    const server = await testServer(t);
    const headers = signed(server.tenant.accessId, server.tenant.secretKey, QUERY_BODY);
    const response = await post(server, QUERY, `${QUERY_BODY} `, headers);
    assert.equal(response.status, 401);
  });

  it('refuses a TimeStamp outside the skew window and accepts one inside it', async (t) => {
    const server = await testServer(t, { signMaxSkewSeconds: 300 });
    const now = Math.floor(Date.now() / 1000);
    const { accessId, secretKey } = server.tenant;
    for (const offset of [-400, 400]) {
      const response = await post(server, QUERY, QUERY_BODY, signed(accessId, secretKey, QUERY_BODY, now + offset));
      assert.equal(response.status, 401);
      assert.match(
        String(response.body.err_msg),
        /TimeStamp header: (399|400|401) s away from the server clock \(at most 300 s allowed\)/,
      );
    }
    for (const offset of [-250, 250]) {
      assert.equal(
        (await post(server, QUERY, QUERY_BODY, signed(accessId, secretKey, QUERY_BODY, now + offset))).status,
        200,
      );
    }
    const garbage = await post(server, QUERY, QUERY_BODY, { accessid: accessId, timestamp: 'yesterday', sign: 'x' });
    assert.match(String(garbage.body.err_msg), /TimeStamp header: must be Unix time in seconds/);
  });

  it('says what to send when credentials are missing or partial', async (t) => {
    const server = await testServer(t);
    const none = await post(server, QUERY, QUERY_BODY, {});
    assert.equal(none.status, 401);
    assert.match(String(none.body.err_msg), /no credentials: send "Authorization: Basic base64\(AccessID:SecretKey\)"/);
    const partial = await post(server, QUERY, QUERY_BODY, { accessid: server.tenant.accessId });
    assert.match(String(partial.body.err_msg), /send all three headers AccessId, TimeStamp and Sign/);
    const bearer = await post(server, QUERY, QUERY_BODY, { authorization: 'Bearer abc' });
    assert.match(String(bearer.body.err_msg), /expected "Basic base64\(AccessID:SecretKey\)"/);
  });

  it('with both Basic and a signature, both must verify and name the same app', async (t) => {
    const server = await testServer(t);
    const good = signed(server.tenant.accessId, server.tenant.secretKey, QUERY_BODY);
    const goodBasic = basic(server.tenant);
    const badBasic = basic({ accessId: server.tenant.accessId, secretKey: 'f'.repeat(32) });
    assert.equal((await post(server, QUERY, QUERY_BODY, { ...goodBasic, ...good })).status, 200, 'both right');
    const wrongBasic = await post(server, QUERY, QUERY_BODY, { ...badBasic, ...good });
    assert.deepEqual([wrongBasic.status, wrongBasic.body.ret_code], [401, AUTH_FAILED]);
    assert.match(String(wrongBasic.body.err_msg), /Basic credentials: AccessID or SecretKey is wrong/);
    const wrongSign = await post(server, QUERY, QUERY_BODY, { ...goodBasic, ...good, sign: 'wrong' });
    assert.deepEqual([wrongSign.status, wrongSign.body.ret_code], [401, AUTH_FAILED]);
    assert.match(String(wrongSign.body.err_msg), /Sign header: does not match/);
    const other = await server.service.create({ name: 'other' });
    const mixed = await post(server, QUERY, QUERY_BODY, { ...basic(other), ...good });
    assert.match(String(mixed.body.err_msg), /Basic credentials and signature name different apps/);
    assert.equal(mixed.status, 401);
    const signWithoutRest = await post(server, QUERY, QUERY_BODY, { ...goodBasic, sign: good.sign });
    assert.equal(
      signWithoutRest.status,
      401,
      'a Sign header without AccessId and TimeStamp is a credential that does not verify',
    );
    assert.equal(
      (await post(server, QUERY, QUERY_BODY, { authorization: 'Bearer from-a-proxy', ...good })).status,
      200,
      'another scheme is not a credential of ours',
    );
  });

  it('decodes Basic credentials strictly: junk around the base64 is refused', async (t) => {
    const server = await testServer(t);
    const encoded = Buffer.from(`${server.tenant.accessId}:${server.tenant.secretKey}`).toString('base64');
    assert.equal((await post(server, QUERY, QUERY_BODY, { authorization: `Basic ${encoded}` })).status, 200);
    assert.equal(
      (await post(server, QUERY, QUERY_BODY, { authorization: `basic  ${encoded} ` })).status,
      200,
      'scheme in any case, spaces around',
    );
    const unpadded = encoded.replace(/=+$/, '');
    const cases = [
      `Basic ${encoded}junk`,
      `Basic ${encoded}!!`,
      `Basic ${encoded} extra`,
      `Basic ${encoded}AAAA`.replace(/=/g, ''),
      `Basic ${unpadded === encoded ? `${encoded}A` : unpadded}`,
      `Basic ${encoded.slice(0, -4)}*${encoded.slice(-3)}`,
      'Basic',
      'Basic !!!!',
    ];
    for (const authorization of cases) {
      const response = await post(server, QUERY, QUERY_BODY, { authorization });
      assert.deepEqual([response.status, response.body.ret_code], [401, AUTH_FAILED], authorization);
    }
    const junk = await post(server, QUERY, QUERY_BODY, { authorization: `Basic ${encoded}junk` });
    assert.match(String(junk.body.err_msg), /not valid base64/);
  });

  it('keeps a rotated-out secret valid for the grace period only', async (t) => {
    const server = await testServer(t);
    const old = server.tenant;
    const rotated = await server.service.rotateSecret(old.accessId, 3600);
    assert.ok(rotated && rotated.secretKey !== old.secretKey);
    assert.equal((await post(server, QUERY, QUERY_BODY, basic(old))).status, 200, 'old secret within grace');
    assert.equal((await post(server, QUERY, QUERY_BODY, basic(rotated))).status, 200, 'new secret');
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() + 3601_000 });
    assert.equal((await post(server, QUERY, QUERY_BODY, basic(old))).status, 401, 'old secret after grace');
    assert.equal((await post(server, QUERY, QUERY_BODY, basic(rotated))).status, 200);
  });

  it('rotating with no grace period stops the old secret at once', async (t) => {
    const server = await testServer(t);
    // Accepted first: a header that verified before is still checked against the live secrets.
    assert.equal((await post(server, QUERY, QUERY_BODY, basic(server.tenant))).status, 200);
    const rotated = await server.service.rotateSecret(server.tenant.accessId, 0);
    assert.equal((await post(server, QUERY, QUERY_BODY, basic(server.tenant))).status, 401);
    assert.equal((await post(server, QUERY, QUERY_BODY, basic(rotated!))).status, 200);
  });
});
