/** The suite's version, shown in reports. */
export const VERSION = '0.1.0';
