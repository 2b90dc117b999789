import { describe, expect, it } from 'vitest';
import {
  nextStatus,
  PROMOTION_EVENTS,
  PROMOTION_TRANSITIONS,
  statusesAllowing,
} from '../../src/deployments/promotion-machine.js';
import { FINAL_STATUSES, PROMOTION_STATUSES, type PromotionStatus } from '../../src/domain/promotion.js';
import { ERROR_STATUS } from '../../src/http/error-status.js';

/** The table as the product promises it: every allowed move, written out independently. */
const ALLOWED: Record<string, PromotionStatus> = {
  'GATING record-gates': 'GATING',
  'GATING fail': 'FAILED',
  'GATING await-approval': 'AWAITING_APPROVAL',
  'GATING deploy': 'SUCCEEDED',
  'GATING start-rollout': 'ROLLING_OUT',
  'GATING abort': 'ABORTED',
  'AWAITING_APPROVAL approve': 'GATING',
  'AWAITING_APPROVAL reject': 'REJECTED',
  'AWAITING_APPROVAL abort': 'ABORTED',
  'ROLLING_OUT advance': 'ROLLING_OUT',
  'ROLLING_OUT complete': 'SUCCEEDED',
  'ROLLING_OUT pause': 'PAUSED',
  'ROLLING_OUT roll-back': 'ROLLED_BACK',
  'ROLLING_OUT abort': 'ABORTED',
  'ROLLING_OUT supersede': 'ABORTED',
  'PAUSED resume': 'ROLLING_OUT',
  'PAUSED abort': 'ABORTED',
  'PAUSED supersede': 'ABORTED',
};

describe('the promotion state machine', () => {
  it(`allows exactly the listed moves among all ${PROMOTION_STATUSES.length * PROMOTION_EVENTS.length} status and event pairs`, () => {
    let refused = 0;
    for (const status of PROMOTION_STATUSES) {
      for (const event of PROMOTION_EVENTS) {
        const expected = ALLOWED[`${status} ${event}`];
        const promotion = { id: 'prm_1', status };
        if (expected) {
          expect(nextStatus(promotion, event), `${status} --${event}->`).toBe(expected);
          continue;
        }
        refused += 1;
        expect(() => nextStatus(promotion, event), `${status} --${event}-> is refused`).toThrow(
          expect.objectContaining({
            code: 'INVALID_TRANSITION',
            details: expect.objectContaining({
              status,
              event,
              allowed: statusesAllowing(event),
              final: FINAL_STATUSES.includes(status),
            }),
          }),
        );
      }
    }
    expect(refused).toBe(PROMOTION_STATUSES.length * PROMOTION_EVENTS.length - Object.keys(ALLOWED).length);
    expect(PROMOTION_TRANSITIONS.length).toBe(Object.keys(ALLOWED).length);
    expect(ERROR_STATUS.INVALID_TRANSITION).toBe(409);
  });

  it('has one row per status and event, none leaving a final status, and abort from every other', () => {
    const keys = PROMOTION_TRANSITIONS.map((t) => `${t.from} ${t.event}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const final of FINAL_STATUSES) {
      expect(PROMOTION_TRANSITIONS.filter((t) => t.from === final)).toEqual([]);
    }
    const open = PROMOTION_STATUSES.filter((s) => !FINAL_STATUSES.includes(s));
    expect(statusesAllowing('abort').sort()).toEqual([...open].sort());
  });

  it('reaches every status from GATING, and a final status from every status', () => {
    const reachable = new Set<PromotionStatus>(['GATING']);
    for (let grew = true; grew; ) {
      grew = false;
      for (const t of PROMOTION_TRANSITIONS) {
        if (reachable.has(t.from) && !reachable.has(t.to)) {
          reachable.add(t.to);
          grew = true;
        }
      }
    }
    expect([...reachable].sort()).toEqual([...PROMOTION_STATUSES].sort());
    for (const status of PROMOTION_STATUSES) {
      if (FINAL_STATUSES.includes(status)) continue;
      expect(
        PROMOTION_TRANSITIONS.some((t) => t.from === status && FINAL_STATUSES.includes(t.to)),
        `${status} can end`,
      ).toBe(true);
    }
  });
});
