struct Shape { virtual ~Shape() = default; virtual double area() const = 0; };
struct Square : Shape { double s = 2; double area() const override { return s * s; } };
double total_area() { Square q; const Shape &s = q; return s.area(); }
