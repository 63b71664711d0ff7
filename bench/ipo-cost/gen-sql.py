#!/usr/bin/env python3
"""Workload for bench/ipo-cost.sh: a SQL script for `sqlite3 :memory: < FILE`.

Row-at-a-time INSERTs (the parser, the code generator, the B-tree), index
builds, joins, aggregates, window functions, string functions, updates and
deletes, on an in-memory database. Deterministic (an LCG, no random()): the
benchmark compares every build's output before timing anything.
Usage: gen-sql.py OUT.sql
"""
import sys

seed = 12345


def rnd(n):
    global seed
    seed = (seed * 1103515245 + 12345) % 2147483648
    return (seed >> 8) % n


CITIES = ["Lyon", "Oslo", "Quito", "Perth", "Accra", "Hanoi", "Lima", "Riga",
          "Bern", "Cork", "Kyiv", "Dakar", "Porto", "Turku", "Basel", "Split"]
ITEMS = ["bolt", "nut", "gear", "pipe", "valve", "spring", "hinge", "rivet",
         "clamp", "flange", "gasket", "washer", "bearing", "coupling"]
CUSTOMERS, ORDERS, LOOKUPS = 20000, 200000, 40000

out = []
w = out.append
w("PRAGMA cache_size = -200000;")
w("CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT, city TEXT, balance REAL);")
w("CREATE TABLE orders(id INTEGER PRIMARY KEY, customer INTEGER, item TEXT,"
  " qty INTEGER, price REAL, day INTEGER, note TEXT);")
w("BEGIN;")
for i in range(1, CUSTOMERS + 1):
    w("INSERT INTO customers VALUES(%d, 'cust%05d', '%s', %d.%02d);"
      % (i, rnd(100000), CITIES[rnd(len(CITIES))], rnd(10000), rnd(100)))
for i in range(1, ORDERS + 1):
    w("INSERT INTO orders(customer, item, qty, price, day, note) VALUES(%d, '%s', %d, %d.%02d, %d, '%s');"
      % (1 + rnd(CUSTOMERS), ITEMS[rnd(len(ITEMS))], 1 + rnd(50), rnd(500), rnd(100),
         rnd(365), "n" * (1 + rnd(20)) + str(i)))
w("COMMIT;")
# Bulk data from a recursive CTE: the VM and the B-tree without the parser.
w("CREATE TABLE events AS WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq"
  " WHERE n < 500000) SELECT n AS id, (n * 7919) % 1009 AS kind, (n * 104729) % 100003 AS val,"
  " printf('ev-%06d-%s', n, substr('abcdefghij', 1 + n % 10, 3)) AS label FROM seq;")
w("CREATE INDEX orders_customer ON orders(customer);")
w("CREATE INDEX orders_item_day ON orders(item, day);")
w("CREATE INDEX events_kind ON events(kind, val);")
# Point lookups, each statement parsed and planned anew.
for _ in range(LOOKUPS):
    c = 1 + rnd(CUSTOMERS)
    w("SELECT count(*), total(qty * price) FROM orders WHERE customer = %d;" % c)
w(".mode list")
queries = [
    "SELECT city, count(*), round(sum(balance), 2) FROM customers GROUP BY city ORDER BY city;",
    "SELECT c.city, o.item, count(*), round(sum(o.qty * o.price), 2) FROM orders o"
    " JOIN customers c ON c.id = o.customer GROUP BY c.city, o.item ORDER BY 4 DESC LIMIT 20;",
    "SELECT item, day, sum(qty) OVER (PARTITION BY item ORDER BY day ROWS 10 PRECEDING) AS s"
    " FROM orders ORDER BY s DESC, item, day LIMIT 10;",
    "SELECT kind, count(*), min(val), max(val), avg(val) FROM events GROUP BY kind"
    " HAVING count(*) > 290 ORDER BY kind LIMIT 20;",
    "SELECT count(*) FROM events e JOIN orders o ON o.day = e.kind % 365 AND o.qty = e.val % 50"
    " WHERE e.id % 97 = 0;",
    "SELECT count(*), sum(length(label)) FROM events WHERE label LIKE '%-0%5%cde%';",
    "SELECT upper(substr(note, 1, 5)) AS p, count(*) FROM orders GROUP BY p ORDER BY 2 DESC, 1 LIMIT 5;",
    "SELECT name, balance FROM customers WHERE id IN (SELECT customer FROM orders"
    " WHERE item = 'gear' AND qty > 45) ORDER BY balance DESC, name LIMIT 10;",
    "SELECT count(DISTINCT customer), count(DISTINCT item || day) FROM orders;",
    "SELECT label FROM events ORDER BY val DESC, label LIMIT 5;",
]
out.extend(queries)
w("UPDATE orders SET price = price * 1.1 WHERE day % 7 = 0;")
w("UPDATE customers SET balance = balance - (SELECT total(qty * price) FROM orders"
  " WHERE orders.customer = customers.id) / 100 WHERE city IN ('Oslo', 'Lima', 'Bern');")
w("DELETE FROM events WHERE val % 3 = 0;")
w("DELETE FROM orders WHERE qty < 5;")
out.extend(queries[:3])
w("SELECT count(*), round(total(balance), 2) FROM customers;")
w("SELECT count(*), total(val) FROM events;")
with open(sys.argv[1], "w") as f:
    f.write("\n".join(out) + "\n")
