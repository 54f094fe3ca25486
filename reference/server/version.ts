/** Advertised in `authenticated.server` (AUTH-5). Keep in step with package.json. */
export const SERVER_NAME = 'mooring-reference';
export const SERVER_VERSION = '0.1.0';
