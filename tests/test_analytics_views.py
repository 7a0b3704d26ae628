"""The analytics pages, CSV exports and the revenue API: who may see what, and the figures they show."""
import csv
import io
import re

import pytest

from pixstock.models import ApiToken

from . import factories
from .analytics_helpers import marathon  # noqa: F401  (fixture)

RANGE = "?from=2025-03-01&to=2025-03-31"


def read_csv(response):
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    text = response.get_data().decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def figure(html: str, name: str) -> str:
    match = re.search(rf'data-figure="{name}">([^<]*)<', html)
    assert match, f"no {name} figure"
    return match.group(1).strip()


@pytest.fixture
def admin(app, auth):
    user = factories.make_user("admin")
    auth.login(user.email)
    return user


# --- Who may see what ---------------------------------------------------------------------------------

ADMIN_PAGES = ["/analytics/", "/analytics/export/revenue_by_day.csv", "/analytics/export/funnels.csv"]


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_admin_pages_need_a_signed_in_admin(app, client, auth, path):
    assert client.get(path).status_code == 302  # to the sign-in page
    for role in ("customer", "photographer"):
        user = factories.make_user(role)
        auth.login(user.email)
        assert client.get(path).status_code == 403, role
        auth.logout()


def test_event_report_needs_an_admin(app, client, auth, marathon):
    path = f"/analytics/events/{marathon.e1.id}"
    auth.login(marathon.a.email)
    assert client.get(path).status_code == 403
    auth.logout()
    auth.login(factories.make_user("admin").email)
    assert client.get(path).status_code == 200
    assert client.get("/analytics/events/999999").status_code == 404


def test_photographers_see_only_their_own_earnings(app, client, auth, marathon):
    auth.login(marathon.b.email)
    assert client.get("/analytics/earnings").status_code == 200
    assert client.get(f"/analytics/photographers/{marathon.b.id}").status_code == 200
    assert client.get(f"/analytics/photographers/{marathon.a.id}").status_code == 404
    assert client.get(f"/analytics/photographers/{marathon.a.id}/statement.csv").status_code == 404
    auth.logout()
    customer = factories.make_user("customer")
    auth.login(customer.email)
    assert client.get("/analytics/earnings").status_code == 403


def test_admins_open_any_photographers_earnings(app, client, admin, marathon):
    assert client.get("/analytics/earnings").status_code == 404  # admins have no earnings of their own
    page = client.get(f"/analytics/photographers/{marathon.b.id}").get_data(as_text=True)
    assert "Boon" in page and figure(page, "earned") == "฿30"
    assert client.get(f"/analytics/photographers/{admin.id}").status_code == 404  # not a photographer


def test_nav_links_by_role(app, client, auth):
    auth.login(factories.make_user("photographer").email)
    page = client.get("/").get_data(as_text=True)
    assert 'href="/analytics/earnings"' in page and 'href="/analytics/"' not in page
    auth.logout()
    auth.login(factories.make_user("admin").email)
    page = client.get("/").get_data(as_text=True)
    assert 'href="/analytics/"' in page and 'href="/analytics/earnings"' not in page


# --- Pages --------------------------------------------------------------------------------------------------


def test_dashboard_shows_the_figures_and_draws_the_charts(client, admin, marathon):
    response = client.get("/analytics/" + RANGE)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert (figure(page, "gross"), figure(page, "commission"), figure(page, "net")) == ("฿493.33", "฿226.67", "฿266.66")
    assert (figure(page, "orders"), figure(page, "average"), figure(page, "refunds")) == ("4", "฿148.33", "฿99.99")
    for chart in ("chart-revenue-day", "chart-revenue-event", "chart-revenue-photographer", "chart-funnel",
                  "chart-top-events"):
        assert f'id="{chart}"' in page
    assert page.count("<rect") >= 5
    assert "Bangkok Marathon" in page and "Anna" in page
    assert f"/media/photos/{marathon.photos['a1'].id}/square_150" in page  # best sellers' thumbnails
    assert "Vary" in response.headers and "HX-Request" in response.headers["Vary"]


def test_htmx_range_change_returns_only_the_report(client, admin, marathon):
    response = client.get("/analytics/?from=2025-03-05&to=2025-03-05", headers={"HX-Request": "true"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in page and page.lstrip().startswith('<div id="report"')
    assert figure(page, "gross") == "-฿99.99"


def test_a_bad_range_is_explained_not_crashed(client, admin):
    response = client.get("/analytics/?from=2025-03-05&to=2025-03-01")
    assert response.status_code == 200
    assert "The start date is after the end date." in response.get_data(as_text=True)
    assert client.get("/analytics/?from=yesterday").status_code == 200
    assert client.get("/analytics/export/revenue_by_day.csv?from=nope").status_code == 400
    assert client.get("/analytics/export/secrets.csv").status_code == 404
    assert client.get("/analytics/?currency=XXX").status_code == 200


def test_event_report_answers_what_it_earned_and_who_is_owed_what(client, admin, marathon):
    page = client.get(f"/analytics/events/{marathon.e1.id}").get_data(as_text=True)  # all time by default
    assert (figure(page, "gross"), figure(page, "commission"), figure(page, "net")) == ("฿373.33", "฿166.67", "฿206.66")
    owed = re.search(r'id="owed".*?</table>', page, re.S).group(0)
    assert re.search(rf'data-key="{marathon.a.id}">.*?Anna.*?฿136.67', owed, re.S)
    assert re.search(rf'data-key="{marathon.b.id}">.*?Boon.*?฿30', owed, re.S)
    assert 'id="chart-event-funnel"' in page


def test_photographer_dashboard(client, auth, marathon):
    factories.make_photo(marathon.e1, marathon.a, approval="rejected", files=False)
    auth.login(marathon.a.email)
    page = client.get("/analytics/earnings").get_data(as_text=True)
    assert figure(page, "earned") == "฿196.67" and figure(page, "photos") == "4"
    assert figure(page, "uploads") == "5" and figure(page, "approval") == "80%"
    assert "Bangkok Marathon" in page and "Chiang Mai Trail" in page and "Singapore Run" in page
    assert 'id="chart-earnings-month"' in page and 'id="chart-earnings-event"' in page


# --- CSV ------------------------------------------------------------------------------------------------------


def test_revenue_csv_rows(client, admin, marathon):
    rows = read_csv(client.get("/analytics/export/revenue_by_event.csv" + RANGE))
    assert rows[0] == ["key", "label", "orders", "refunded_orders", "photos", "sales (THB)", "refunds (THB)",
                       "gross (THB)", "commission (THB)", "net (THB)", "average_order (THB)"]
    assert rows[1] == [str(marathon.e1.id), "Bangkok Marathon", "4", "1", "4", "473.32", "99.99", "373.33", "166.67",
                       "206.66", "118.33"]
    assert rows[2] == [str(marathon.e2.id), "Chiang Mai Trail", "1", "0", "1", "120.00", "0.00", "120.00", "60.00",
                       "60.00", "120.00"]
    days = read_csv(client.get("/analytics/export/revenue_by_day.csv" + RANGE))
    assert len(days) == 1 + 31 and days[5][0] == "2025-03-05" and days[5][7] == "-99.99"


@pytest.mark.parametrize("table, first", [
    ("revenue_by_photographer", "Anna"), ("revenue_by_month", "2025-03"), ("funnels", "Bangkok Marathon"),
    ("top_events", "Bangkok Marathon"), ("best_selling_photos", "IMG_"), ("most_viewed_photos", None),
])
def test_every_table_exports(client, admin, marathon, table, first):
    rows = read_csv(client.get(f"/analytics/export/{table}.csv" + RANGE))
    assert rows[0]
    if first:
        assert first in ",".join(rows[1])
    else:
        assert len(rows) == 1  # nobody viewed a photo in this test


def test_event_scoped_export(client, admin, marathon):
    rows = read_csv(client.get(f"/analytics/export/revenue_by_photographer.csv?event_id={marathon.e2.id}"))
    assert [r[1] for r in rows[1:]] == ["Anna"] and rows[1][8] == "60.00"


def test_statement_csv(client, auth, marathon):
    auth.login(marathon.b.email)
    rows = read_csv(client.get("/analytics/earnings/statement.csv"))
    assert rows[0] == ["date", "kind", "order", "photo", "filename", "event", "price (THB)", "rate_percent",
                       "earned (THB)"]
    b1 = str(marathon.photos["b1"].id)
    body = [(r[0], r[1], r[3], r[6], r[7], r[8]) for r in rows[1:]]
    assert body == [
        ("2025-03-02 00:30", "sale", b1, "100.00", "30.00", "30.00"),
        ("2025-03-02 00:30", "sale", b1, "99.99", "30.00", "30.00"),
        ("2025-03-05 10:00", "refund", b1, "-99.99", "30.00", "-30.00"),
        ("", "total", "", "", "", "30.00"),
    ]
    assert "runner@example.com" not in ",".join(",".join(r) for r in rows)  # no customer data
    months = read_csv(client.get("/analytics/earnings/statement.csv?table=months"))
    assert months[1][0] == "2025-03-01" and months[1][8] == "30.00"
    events = read_csv(client.get("/analytics/earnings/statement.csv?table=events"))
    assert events[1][1] == "Bangkok Marathon" and events[1][-1] == "30.00"


def test_csv_cells_never_become_formulas(client, admin, marathon):
    marathon.e1.name = "=HYPERLINK(\"http://evil\")"
    from pixstock.extensions import db

    db.session.commit()
    rows = read_csv(client.get("/analytics/export/revenue_by_event.csv" + RANGE))
    assert rows[1][1].startswith("'=")


# --- API --------------------------------------------------------------------------------------------------------


def token_for(role: str) -> str:
    from pixstock.extensions import db

    _row, plain = ApiToken.issue(factories.make_user(role))
    db.session.commit()
    return plain


def test_revenue_api(client, marathon):
    headers = {"Authorization": "Bearer " + token_for("admin")}
    body = client.get("/api/v1/reports/revenue?from=2025-03-01&to=2025-03-31&group_by=photographer",
                      headers=headers).get_json()
    assert body["currency"] == "THB" and body["group_by"] == "photographer"
    rows = {row["key"]: row for row in body["rows"]}
    assert {k: rows[marathon.a.id][k] for k in ("orders", "gross", "commission", "net")} == {
        "orders": 3, "gross": 39333, "commission": 19667, "net": 19666}
    assert body["totals"]["gross"] == 49333 and body["totals"]["commission"] == 22667
    days = client.get("/api/v1/reports/revenue?from=2025-03-02&to=2025-03-05&group_by=day", headers=headers).get_json()
    assert [r["key"] for r in days["rows"]] == ["2025-03-02", "2025-03-03", "2025-03-04", "2025-03-05"]
    assert days["rows"][3]["gross"] == -9999
    events = client.get("/api/v1/reports/revenue?from=2025-03-01&to=2025-03-31&group_by=event",
                        headers=headers).get_json()
    assert [r["key"] for r in events["rows"]] == [marathon.e1.id, marathon.e2.id]
    usd = client.get("/api/v1/reports/revenue?from=2025-03-01&to=2025-03-31&currency=usd", headers=headers).get_json()
    assert usd["currency"] == "USD" and usd["totals"]["gross"] == 1500


@pytest.mark.parametrize("query, code", [
    ("group_by=week", "invalid_group_by"), ("from=2025-02-30", "invalid_date"),
    ("from=2025-03-05&to=2025-03-01", "invalid_date"), ("currency=baht", "invalid_currency"),
])
def test_revenue_api_validates(client, query, code):
    response = client.get("/api/v1/reports/revenue?" + query, headers={"Authorization": "Bearer " + token_for("admin")})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == code


def test_revenue_api_is_for_admins(client):
    assert client.get("/api/v1/reports/revenue").status_code == 401
    for role in ("photographer", "customer"):
        response = client.get("/api/v1/reports/revenue", headers={"Authorization": "Bearer " + token_for(role)})
        assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"


def test_revenue_api_is_documented(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/reports/revenue"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"from", "to", "group_by"}
    assert operation["security"] == [{"bearer": []}]
    assert set(spec["components"]["schemas"]["RevenueRow"]["required"]) == {"key", "orders", "gross", "commission",
                                                                              "net"}


def test_event_report_draws_visitors_by_day(client, admin, marathon):
    from datetime import date

    from pixstock.extensions import db
    from pixstock.models import EventDailyStat, TrackKind

    for day, visitors in ((date(2025, 3, 2), 40), (date(2025, 3, 4), 10)):
        db.session.add(EventDailyStat(event_id=marathon.e1.id, day=day, kind=TrackKind.GALLERY_VIEW, hits=visitors,
                                      visitors=visitors))
    db.session.commit()
    page = client.get(f"/analytics/events/{marathon.e1.id}?from=2025-03-01&to=2025-03-05").get_data(as_text=True)
    chart = re.search(r'id="chart-event-visits".*?</figure>', page, re.S).group(0)
    heights = [float(h) for h in re.findall(r'<rect [^>]*height="([\d.]+)"', chart)]
    assert len(heights) == 2 and heights[0] == pytest.approx(4 * heights[1], rel=0.02)
    assert "2 Mar" in chart and "Visitors: 40" in chart
