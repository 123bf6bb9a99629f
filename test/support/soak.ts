/** Sizes of the reliability tests: short in `npm test`, long in `npm run soak` (BINDERY_SOAK=1). */
export const SOAK = process.env.BINDERY_SOAK === '1';

export const size = <T>(short: T, soak: T): T => (SOAK ? soak : short);
