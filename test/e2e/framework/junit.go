package framework

import (
	"encoding/xml"
	"os"
	"strings"
)

// JUnitCase is one spec of a ginkgo suite's JUnit report: its outcome ("passed",
// "skipped", "failed") and, when it did not pass, why.
type JUnitCase struct {
	Name, Outcome, Message string
}

type junitReport struct {
	Suites []struct {
		Cases []struct {
			Name    string `xml:"name,attr"`
			Skipped *struct {
				Message string `xml:"message,attr"`
			} `xml:"skipped"`
			Failure *struct {
				Message string `xml:"message,attr"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
			} `xml:"error"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// ReadJUnit reads the specs of a ginkgo JUnit report (--ginkgo.junit-report).
func ReadJUnit(path string) ([]JUnitCase, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r junitReport
	if err := xml.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	var out []JUnitCase
	for _, s := range r.Suites {
		for _, c := range s.Cases {
			jc := JUnitCase{Name: c.Name, Outcome: "passed"}
			switch {
			case c.Skipped != nil:
				jc.Outcome, jc.Message = "skipped", strings.TrimSpace(c.Skipped.Message)
			case c.Failure != nil:
				jc.Outcome, jc.Message = "failed", strings.TrimSpace(c.Failure.Message)
			case c.Error != nil:
				jc.Outcome, jc.Message = "failed", strings.TrimSpace(c.Error.Message)
			}
			out = append(out, jc)
		}
	}
	return out, nil
}
