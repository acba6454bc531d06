"""What an institution has: years and periods, disciplines, groups; a group's roster."""

from __future__ import annotations

from datetime import date

from domain.groups import Group
from domain.institution import Institution
from projections.models import (
    AssignmentRef,
    DisciplineView,
    GroupRef,
    GroupView,
    InstitutionView,
    MemberView,
    PeriodView,
    YearView,
)


def institution_view(institution: Institution, today: date) -> InstitutionView:
    return InstitutionView(
        slug=institution.slug, name=institution.name, timezone=institution.timezone,
        today=today,
        years=[YearView(year_id=y.year_id, title=y.title, starts=y.starts, ends=y.ends,
                        periods=[PeriodView(number=p.number, kind=p.kind, title=p.title,
                                            starts=p.starts, ends=p.ends) for p in y.periods])
               for y in sorted(institution.years.values(), key=lambda y: y.starts)],
        disciplines=[DisciplineView(discipline_id=d.discipline_id, name=d.name, kind=d.kind,
                                    planned_hours=d.planned_hours)
                     for d in sorted(institution.disciplines.values(), key=lambda d: d.name)],
        groups=[GroupRef(group_id=g, name=name, year_id=year)
                for g, (name, year) in sorted(institution.groups.items(),
                                              key=lambda item: item[1][0])],
    )


def group_view(group: Group, day: date) -> GroupView:
    roster = group.roster_on(day)
    return GroupView(
        group_id=group.id, name=group.name, year_id=group.year_id, curator_id=group.curator_id,
        subgroups=group.subgroups,
        assignments=[AssignmentRef(assignment_id=a, teacher_id=t, discipline_id=d,
                                   subgroup_id=s)
                     for a, (t, d, s) in group.assignments.items()],
        on_date=day,
        members=[MemberView(student_id=s, full_name=group.names[s],
                            subgroups=[sub for sub in group.subgroups
                                       if group.is_member(s, day, sub)])
                 for s in sorted(roster, key=lambda s: group.names[s])],
    )
