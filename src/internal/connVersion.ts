/** This library's version, sent as `CLIENT SETINFO LIB-VER` (kept in step with package.json). */
export const version = "0.1.0"
