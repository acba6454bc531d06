"""Statements as documents: JSON, CSV (UTF-8 with BOM, `;`, opens as it should in Excel
and LibreOffice) and a printable PDF/A-3b (WeasyPrint; A4 landscape, the header repeated
on every page, page N of M, the director's signature line, the CSV attached as the
document's data). Every document names the ledger state it was built from; the same
state gives the same bytes."""

from __future__ import annotations

import csv
import dataclasses
import html
import io
import json
from datetime import datetime
from typing import Any

from projections.statements import (
    AttendanceByMonthStatement,
    AttendanceStatement,
    ControlStatement,
    CuratorPreliminaryStatement,
    DebtStatement,
    ForecastStatement,
    GroupResultsStatement,
    MovementStatement,
    ProgressStatement,
    Section,
    YearSnapshotStatement,
)

Statement = (ProgressStatement | AttendanceStatement | MovementStatement
             | GroupResultsStatement | CuratorPreliminaryStatement
             | AttendanceByMonthStatement | DebtStatement | ControlStatement
             | ForecastStatement | YearSnapshotStatement)
COUNT_COLUMNS = ["5", "4", "3", "2", "1", "зачтено", "не зачтено", "н/а", "освобождён"]


def as_json(statement: Statement) -> dict[str, Any]:
    return dataclasses.asdict(statement)


def table(statement: Statement) -> tuple[list[str], list[list[Any]], list[list[Any]]]:
    """(columns, rows, summary rows) of the statement's main table."""
    if isinstance(statement, ProgressStatement):
        columns = ["№", "Обучающийся", *statement.disciplines, "Средний балл"]
        rows = [[i, r.student, *[m or "" for m in r.marks], _num(r.average)]
                for i, r in enumerate(statement.rows, 1)]
        summary = [[None, "Успеваемость, %", *[_num(s.success) for s in statement.summary],
                    _num(statement.total.success)],
                   [None, "Качество, %", *[_num(s.quality) for s in statement.summary],
                    _num(statement.total.quality)],
                   [None, "Средний балл", *[_num(s.average) for s in statement.summary],
                    _num(statement.total.average)],
                   [None, "N (в расчёте)", *[s.n for s in statement.summary],
                    statement.total.n]]
        for mark in COUNT_COLUMNS:
            if any(mark in s.counts for s in statement.summary):
                summary.append([None, f"Отметок «{mark}»",
                                *[s.counts.get(mark, 0) for s in statement.summary],
                                statement.total.counts.get(mark, 0)])
        return columns, rows, summary
    if isinstance(statement, AttendanceStatement):
        columns = ["№", "Обучающийся", "Пропущено занятий", "Уважительно",
                   "в т. ч. по болезни", "Неуважительно", "Опозданий", "Минут опозданий",
                   *statement.months]
        def line(r: Any) -> list[Any]:
            return [r.student, r.missed, r.excused, r.illness, r.unexcused, r.late,
                    r.late_minutes, *[r.by_month.get(m, 0) for m in statement.months]]
        rows = [[i, *line(r)] for i, r in enumerate(statement.rows, 1)]
        return columns, rows, [[None, *line(statement.total)]]
    if isinstance(statement, MovementStatement):
        return _movement(statement)
    return _TABLES[type(statement)](statement)


def _movement(statement: MovementStatement
              ) -> tuple[list[str], list[list[Any]], list[list[Any]]]:
    columns = ["№", "Обучающийся", "Дата рождения", "Движение", "Приказ",
               "Дата", "Из группы", "В группу"]
    rows = [[i, r.student, r.birth_date or "", r.kind, r.order, r.effective,
             r.from_group or "", r.to_group or ""] for i, r in enumerate(statement.rows, 1)]
    summary = [[None, f"{h.group}: на начало {h.opening}, прибыло {h.arrived}, выбыло "
                      f"{h.left}, на конец {h.closing}", "", "", "", "", "", ""]
               for h in statement.headcounts]
    return columns, rows, summary


def _group_results(st: GroupResultsStatement) -> Any:
    columns = ["№", "Обучающийся", "«5»", "«4»", "«3»", "«2»", "«н/а»", "Средний балл",
               "Категория"]
    rows = [[i, r.student, *r.counts.values(), _num(r.average), r.category]
            for i, r in enumerate(st.rows, 1)]
    blank = [""] * 7
    summary = [[None, f"{c}: {n}", *blank] for c, n in st.categories.items()]
    summary += [[None, f"N (в расчёте): {st.n}", *blank],
                [None, f"Успеваемость, %: {_num(st.success)}", *blank],
                [None, f"Качество, %: {_num(st.quality)}", *blank]]
    return columns, rows, summary


def _preliminary(st: CuratorPreliminaryStatement) -> Any:
    columns = ["№", "Обучающийся", *st.disciplines, "Средний балл", "Пропущено",
               "Неуважительно"]
    rows = [[i, r.student, *r.averages, _num(r.average), r.missed, r.unexcused]
            for i, r in enumerate(st.rows, 1)]
    summary = [[None, "Средний балл группы", *[_num(a) for a in st.group_averages], "",
                sum(r.missed for r in st.rows), sum(r.unexcused for r in st.rows)],
               [None, "Под угрозой «2»", *st.at_risk, "", "", ""]]
    return columns, rows, summary


def _by_month(st: AttendanceByMonthStatement) -> Any:
    columns = ["№", "Обучающийся", *[f"{m[5:]}.{m[:4]}" for m in st.months], "Всего",
               "Неуважительно"]

    def line(r: Any) -> list[Any]:
        return [r.student, *[f"{r.months[m][0]} ({r.months[m][1]})" for m in st.months],
                r.missed, r.unexcused]
    return (columns, [[i, *line(r)] for i, r in enumerate(st.rows, 1)],
            [[None, *line(st.total)]])


def _debts(st: DebtStatement) -> Any:
    columns = ["№", "Обучающийся", "Группа", "Дисциплина", "Период", "Отметка"]
    rows = [[i, r.student, r.group, r.discipline, r.period, r.mark]
            for i, r in enumerate(st.rows, 1)]
    summary = [[None, f"{g}: обучающихся с задолженностью {n}", "", "", "", ""]
               for g, n in st.by_group.items()]
    summary.append([None, f"Всего обучающихся с задолженностью: {st.students}", "", "", "",
                    ""])
    return columns, rows, summary


def _control(st: ControlStatement) -> Any:
    columns = ["№", "Учитель", "Группа", "Дисциплина", "Занятий", "С опозданием",
               "Вовремя, %", "Отметок", "Отметок с опозданием", "Наполняемость, %",
               "Обучающихся", "Без отметок", "Без отметок, %", "Без темы", "Без д/з"]
    rows = [[i, r.teacher, r.group, r.discipline, r.lessons, r.late_lessons, _num(r.on_time),
             r.marks, r.late_marks, _num(r.fill), r.students, r.without_marks,
             _num(r.without_marks_share), r.no_topic, r.no_homework]
            for i, r in enumerate(st.rows, 1)]
    lessons = sum(r.lessons for r in st.rows)
    late = sum(r.late_lessons for r in st.rows)
    students = sum(r.students for r in st.rows)
    without = sum(r.without_marks for r in st.rows)
    summary = [[None, "Итого", "", "", lessons, late,
                _num(None if not lessons else round(100 * (lessons - late) / lessons, 1)),
                sum(r.marks for r in st.rows), sum(r.late_marks for r in st.rows), "",
                students, without,
                _num(None if not students else round(100 * without / students, 1)),
                sum(r.no_topic for r in st.rows), sum(r.no_homework for r in st.rows)]]
    return columns, rows, summary


def _forecast(st: ForecastStatement) -> Any:
    columns = ["№", "Обучающийся", "Дисциплина", "Средний балл", "→", "Отметок",
               "Занятий", "Пропущено", "Неуважительно", "Риск", "Причина"]
    rows = [[i, r.student, r.discipline, _num(r.average), r.suggested or "", r.marks,
             r.lessons, r.missed, r.unexcused, r.risk, "; ".join(r.reasons)]
            for i, r in enumerate(st.rows, 1)]
    summary = [[None, f"{s.discipline}: риск «н/а» {s.not_attested}, «2» {s.failing}, "
                      f"внимание {s.watch} из {s.students}", *[""] * 9]
               for s in st.summary]
    summary.append([None, f"Обучающихся с риском «2» или «н/а»: {st.at_risk}", *[""] * 9])
    return columns, rows, summary


def _snapshot(st: YearSnapshotStatement) -> Any:
    columns = ["№", "Обучающийся", "Группа", "Дисциплина", *st.titles]
    rows = [[i, r.student, r.group, r.discipline, *[r.marks.get(k, "") for k in st.keys]]
            for i, r in enumerate(st.rows, 1)]
    return columns, rows, []


_TABLES: dict[type, Any] = {
    GroupResultsStatement: _group_results, CuratorPreliminaryStatement: _preliminary,
    AttendanceByMonthStatement: _by_month, DebtStatement: _debts,
    ControlStatement: _control, ForecastStatement: _forecast,
    YearSnapshotStatement: _snapshot,
}


def sections(statement: Statement) -> list[Section]:
    """The document's further tables, after the main one."""
    return list(getattr(statement, "sections", []))


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}".rstrip("0").rstrip(".").replace(".", ",")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    return _num(value) if isinstance(value, float) else value


def footnote(statement: Statement) -> str:
    h = statement.header
    state = (f"Состояние журнала: запись № {h.ledger.position}, хеш {h.ledger.head}"
             if h.ledger.position else "Состояние журнала: пусто")
    extra = getattr(statement, "formula", None) or getattr(statement, "note", None) or ""
    return f"{extra} {state}.".strip()


def as_csv(statement: Statement) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    h = statement.header
    writer.writerow([h.title])
    writer.writerow([h.institution, h.group or "", h.period,
                     f"по состоянию на {h.generated_at}"])
    columns, rows, summary = table(statement)
    writer.writerow(columns)
    writer.writerows([["" if v is None else v for v in r] for r in [*rows, *summary]])
    for section in sections(statement):
        writer.writerow([])
        writer.writerow([section.title])
        writer.writerow(section.columns)
        writer.writerows([[_cell(v) for v in r] for r in section.rows])
    writer.writerow([footnote(statement)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


CSS = """
@page { size: A4 landscape; margin: 14mm 10mm 16mm 10mm;
  @bottom-right { content: "Страница " counter(page) " из " counter(pages);
                  font: 8pt 'DejaVu Sans'; } }
body { font: 8.5pt 'DejaVu Sans'; }
h1 { font-size: 12pt; margin: 0 0 2mm 0; }
h2 { font-size: 10pt; margin: 4mm 0 2mm 0; }
p.meta { margin: 0 0 3mm 0; }
table { border-collapse: collapse; width: 100%; }
thead { display: table-header-group; }
th, td { border: 0.4pt solid #444; padding: 1mm; text-align: center; }
td.name, th.name { text-align: left; }
tr.summary td { font-weight: bold; background: #eee; }
p.foot { font-size: 7.5pt; margin-top: 3mm; }
p.sign { margin-top: 8mm; }
"""


def as_html(statement: Statement) -> str:
    h = statement.header
    columns, rows, summary = table(statement)
    esc = html.escape

    def cells(values: list[Any], tag: str, name_at: int = 1) -> str:
        named = f'<{tag} class="name">'
        return "".join(f'{named if i == name_at else f"<{tag}>"}{esc("" if v is None else str(v))}'
                       f"</{tag}>" for i, v in enumerate(values))

    body = "".join(f"<tr>{cells(r, 'td')}</tr>" for r in rows)
    body += "".join(f'<tr class="summary">{cells(r, "td")}</tr>' for r in summary)
    more = "".join(
        f"<h2>{esc(sec.title)}</h2><table><thead><tr>{cells(sec.columns, 'th', 0)}"
        f"</tr></thead><tbody>"
        + "".join(f"<tr>{cells([_cell(v) for v in r], 'td', 0)}</tr>" for r in sec.rows)
        + "</tbody></table>" for sec in sections(statement))
    return (f"<!DOCTYPE html><html lang=\"ru\"><head><meta charset=\"utf-8\">"
            f"<title>{esc(h.title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{esc(h.title)}</h1><p class=\"meta\">{esc(h.institution)}"
            f"{' · группа ' + esc(h.group) if h.group else ''} · {esc(h.period)}"
            f" · по состоянию на {esc(h.generated_at)}</p>"
            f"<table><thead><tr>{cells(columns, 'th')}</tr></thead><tbody>{body}</tbody>"
            f"</table>{more}<p class=\"foot\">{esc(footnote(statement))}</p>"
            f"<p class=\"sign\">Директор ____________________ / ____________________ /"
            f"</p></body></html>")


def as_pdf(statement: Statement) -> bytes:
    """PDF/A-3b with the CSV attached as its data (relationship "Data")."""
    from weasyprint import HTML, Attachment

    csv_bytes = as_csv(statement)
    as_of = datetime.strptime(statement.header.generated_at, "%d.%m.%Y %H:%M")
    attachment = Attachment(string=csv_bytes, base_url=None, name=f"{statement.kind}.csv",
                            description="Данные ведомости (CSV)", relationship="Data",
                            created=as_of, modified=as_of)
    document = HTML(string=as_html(statement))
    return document.write_pdf(pdf_variant="pdf/a-3b", attachments=[attachment],
                              uncompressed_pdf=False, custom_metadata=False,
                              pdf_identifier=statement.header.ledger.head[:32].encode()
                              or b"ejournal")


def render(statement: Statement, fmt: str) -> tuple[bytes, str]:
    """The document's bytes and media type."""
    if fmt == "csv":
        return as_csv(statement), "text/csv; charset=utf-8"
    if fmt == "pdf":
        return as_pdf(statement), "application/pdf"
    return json.dumps(as_json(statement), ensure_ascii=False).encode(), "application/json"
