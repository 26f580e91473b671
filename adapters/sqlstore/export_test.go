package sqlstore

// The sqlstore tests list with a scan budget of 100 rows, set before any
// test runs, so that the contract test of the bounded scan needs a few
// hundred submissions rather than tens of thousands.
func init() { submissionScan = 100 }

// SubmissionScan is the scan budget the tests run with.
func SubmissionScan() int { return submissionScan }
