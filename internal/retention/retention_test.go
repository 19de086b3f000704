package retention

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// at builds a set at a day offset from Wednesday 2026-11-25 12:00 UTC plus
// an hour offset, so several sets can fall on one day.
func at(day, hour int, st Status) Set {
	t := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC).AddDate(0, 0, day).Add(time.Duration(hour) * time.Hour)
	return Set{ID: t.Format("20060102T150405Z") + "-0000", Time: t, Status: st}
}

func kept(ds []Decision) []string {
	var ids []string
	for _, d := range ds {
		if d.Keep {
			ids = append(ids, d.Set.ID)
		}
	}
	return ids
}

func ids(sets ...Set) []string {
	var out []string
	for _, s := range sets {
		out = append(out, s.ID)
	}
	return out
}

func TestApply(t *testing.T) {
	// A history with failed and partial sets in between.
	today := at(0, 0, Complete)
	todayFailed := at(0, 1, Failed) // newer than today's complete set
	todayEarly := at(0, -2, Complete)
	yesterday := at(-1, 0, Complete)
	yesterdayPartial := at(-1, 1, Partial)
	twoDays := at(-2, 0, Complete)
	twoDaysFailed := at(-2, -1, Failed)
	lastWeek := at(-7, 0, Complete)
	lastWeekEarly := at(-8, 0, Complete) // Tuesday of the previous ISO week
	lastMonth := at(-30, 0, Complete)    // 2026-10-26
	twoMonths := at(-60, 0, Complete)    // 2026-09-26
	all := []Set{twoMonths, lastMonth, lastWeekEarly, lastWeek, twoDaysFailed, twoDays, yesterdayPartial, yesterday, todayEarly, todayFailed, today}

	cases := []struct {
		name   string
		policy Policy
		sets   []Set
		want   []string
	}{
		{
			name:   "keep-last 2 keeps the two newest complete sets and skips failed ones between them",
			policy: Policy{KeepLast: 2},
			sets:   all,
			want:   ids(today, todayEarly),
		},
		{
			name:   "keep-last 3 does not count the partial set",
			policy: Policy{KeepLast: 3},
			sets:   all,
			want:   ids(today, todayEarly, yesterday),
		},
		{
			name:   "keep-daily 3 keeps the newest complete set of each of the three newest days",
			policy: Policy{KeepDaily: 3},
			sets:   all,
			want:   ids(today, yesterday, twoDays),
		},
		{
			name:   "keep-weekly 2 keeps the newest of this ISO week and of the previous one",
			policy: Policy{KeepWeekly: 2},
			sets:   all,
			// lastWeek (Wed 18th) and lastWeekEarly (Tue 17th) share ISO week 47.
			want: ids(today, lastWeek),
		},
		{
			name:   "keep-monthly 3 keeps the newest set of each month",
			policy: Policy{KeepMonthly: 3},
			sets:   all,
			want:   ids(today, lastMonth, twoMonths),
		},
		{
			name:   "rules combine: a set kept by any rule stays",
			policy: Policy{KeepLast: 1, KeepDaily: 2, KeepMonthly: 2},
			sets:   all,
			want:   ids(today, yesterday, lastMonth),
		},
		{
			name:   "the newest complete set is kept even when every rule is tiny",
			policy: Policy{KeepMonthly: 1},
			sets:   []Set{todayFailed, yesterdayPartial, yesterday, twoDays},
			want:   ids(yesterday),
		},
		{
			name:   "the newest complete set is kept when only failed sets are newer",
			policy: Policy{KeepLast: 1},
			sets:   []Set{todayFailed, twoDaysFailed, twoDays, lastWeek},
			want:   ids(twoDays),
		},
		{
			name:   "an empty policy keeps every complete set but still removes failed and partial ones",
			policy: Policy{},
			sets:   all,
			want:   ids(today, todayEarly, yesterday, twoDays, lastWeek, lastWeekEarly, lastMonth, twoMonths),
		},
		{
			name:   "a corrupt set neither counts nor is protected as the newest",
			policy: Policy{KeepLast: 1},
			sets:   []Set{at(0, 2, Corrupt), today, yesterday},
			want:   ids(today),
		},
		{
			name:   "only failed and partial sets: nothing is kept",
			policy: Policy{KeepLast: 5},
			sets:   []Set{todayFailed, yesterdayPartial, twoDaysFailed},
			want:   nil,
		},
		{
			name:   "input order does not matter",
			policy: Policy{KeepLast: 2},
			sets:   []Set{lastMonth, today, twoDaysFailed, yesterday, todayFailed},
			want:   ids(today, yesterday),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := kept(Apply(tc.policy, tc.sets))
			if !slices.Equal(got, tc.want) {
				t.Fatalf("kept %v, want %v", got, tc.want)
			}
		})
	}
}

func TestApplyExplainsEveryDecision(t *testing.T) {
	ds := Apply(Policy{KeepDaily: 1}, []Set{at(0, 0, Complete), at(0, -1, Complete), at(0, 1, Failed), at(-1, 0, Partial)})
	want := []string{"[failed]", "[newest complete daily 2026-11-25]", "[outside the policy]", "[partial]"}
	for i, d := range ds {
		if got := fmt.Sprint(d.Reasons); got != want[i] {
			t.Errorf("decision %d (%s): reasons %s, want %s", i, d.Set.ID, got, want[i])
		}
	}
}
