/** hoard's version, shared by every tool (kept in step with package.json by the release script). */
export const HOARD_VERSION = '0.1.0';
