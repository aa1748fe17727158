-- The cross-sells report (and the console's Cross-sells page) finds the
-- orders with a product, and the cross-sell lines of a pair, by index.
CREATE INDEX line_items_product ON line_items (product_id, cross_sell_of, order_id, amount_total, cross_sell);
