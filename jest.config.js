/** Two projects: `unit` (npm test: no host needed) and `e2e` (npm run test:e2e: needs scripts/testbed.sh up). */
const common = {
  preset: "ts-jest",
  testEnvironment: "node",
  transform: { "^.+\\.ts$": ["ts-jest", { isolatedModules: true }] },
};
module.exports = {
  projects: [
    { ...common, displayName: "unit", testMatch: ["<rootDir>/tests/unit/**/*.test.ts"] },
    { ...common, displayName: "e2e", testMatch: ["<rootDir>/tests/e2e/**/*.test.ts"], testTimeout: 900000 },
  ],
  reporters: ["default", "<rootDir>/tests/summary-reporter.js"],
};
