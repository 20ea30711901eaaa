/** Two projects: `unit` (npm test: no host needed) and `e2e` (npm run test:e2e: needs tests/bed/testbed.sh up). */
// e2e tests set their own timeouts with jest.setTimeout (testTimeout is not a per-project option).
const common = {
  preset: "ts-jest",
  testEnvironment: "node",
  transform: { "^.+\\.ts$": ["ts-jest", {}] },
};
module.exports = {
  projects: [
    {
      ...common,
      displayName: "unit",
      testMatch: ["<rootDir>/tests/unit/**/*.test.ts"],
      globalSetup: "<rootDir>/tests/system-tools.js",
    },
    { ...common, displayName: "e2e", testMatch: ["<rootDir>/tests/e2e/**/*.test.ts"] },
  ],
  reporters: ["default", "<rootDir>/tests/summary-reporter.js"],
};
