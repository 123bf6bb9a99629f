/** The TPNS access points by name; any other base URL works too. */
export const REGIONS = {
  guangzhou: 'https://api.tpns.tencent.com',
  shanghai: 'https://api.tpns.sh.tencent.com',
  hongkong: 'https://api.tpns.hk.tencent.com',
  singapore: 'https://api.tpns.sgp.tencent.com',
} as const;

export type RegionName = keyof typeof REGIONS;
